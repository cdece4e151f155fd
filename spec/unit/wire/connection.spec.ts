// spec/unit/wire/connection.spec.ts: Connection over real loopback sockets: round trips, and peer errors cost one connection.
import { afterEach, describe, expect, test } from "bun:test";
import type { Socket, TCPSocketListener } from "bun";
import { ProtocolError } from "../../../lib/errors.ts";
import { decodeMessage, encodeMessage, encodeValue } from "../../../lib/wire/codec.ts";
import {
  Connection,
  type ConnectionHandler,
  type ConnectionOptions,
  connectionHandlers,
  releaseChunk,
} from "../../../lib/wire/connection.ts";
import { FrameDecoder } from "../../../lib/wire/frame.ts";
import { messageParts, PART_BYTES, WHOLE_MESSAGE_BYTES } from "../../../lib/wire/parts.ts";

const HOST = "127.0.0.1";
const WAIT_MS = 3000;

const listeners: TCPSocketListener<Connection>[] = [];
const sockets: Socket<unknown>[] = [];

afterEach(() => {
  for (const socket of sockets.splice(0)) socket.terminate();
  for (const listener of listeners.splice(0)) listener.stop(true);
});

/** Resolves with `promise`, or rejects after `ms` naming what was awaited. */
function within<T>(promise: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  let timer: Timer | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A ConnectionHandler that records messages and closes and lets a test await them. */
class Recorder implements ConnectionHandler<undefined> {
  messages: unknown[] = [];
  closes = 0;
  #waiters: (() => void)[] = [];
  #onMessage: (conn: Connection, value: unknown) => void;

  constructor(onMessage: (conn: Connection, value: unknown) => void = () => {}) {
    this.#onMessage = onMessage;
  }

  message(conn: Connection, value: unknown): void {
    this.messages.push(value);
    this.#wake();
    this.#onMessage(conn, value); // may throw ProtocolError, after recording
  }

  close(): void {
    this.closes++;
    this.#wake();
  }

  /** Resolves once `ready()` holds, re-checked after every message and close. */
  until(ready: () => boolean, what: string): Promise<void> {
    return within(
      new Promise<void>((resolve) => {
        const check = () => (ready() ? resolve() : this.#waiters.push(check));
        check();
      }),
      what,
    );
  }

  nextMessages(count: number): Promise<unknown[]> {
    return this.until(() => this.messages.length >= count, `${count} message(s)`).then(() =>
      this.messages.slice(0, count),
    );
  }

  #wake(): void {
    const waiters = this.#waiters.splice(0);
    for (const check of waiters) check();
  }
}

interface Server {
  port: number;
  conns: Connection[];
  logs: string[];
}

/** Listens on 127.0.0.1:0; every accepted socket becomes a Connection driven by `handler`. */
function startServer(
  handler: ConnectionHandler<undefined>,
  options: ConnectionOptions = {},
  greet?: unknown,
): Server {
  const conns: Connection[] = [];
  const logs: string[] = [];
  const listener = Bun.listen<Connection>({
    hostname: HOST,
    port: 0,
    socket: connectionHandlers((socket) => {
      const conn = new Connection(socket, handler, undefined, { log: (line) => logs.push(line), ...options });
      conns.push(conn);
      if (greet !== undefined) conn.send(greet);
    }),
  });
  listeners.push(listener);
  return { port: listener.port, conns, logs };
}

/** Connects a Connection-driven client to `port`. */
async function connectClient(
  port: number,
  handler: ConnectionHandler<undefined>,
  options: ConnectionOptions = {},
): Promise<Connection> {
  let conn: Connection | undefined;
  const opened = Promise.withResolvers<void>();
  const socket = await Bun.connect<Connection>({
    hostname: HOST,
    port,
    socket: connectionHandlers((s) => {
      conn = new Connection(s, handler, undefined, { log: () => {}, ...options });
      opened.resolve();
    }),
  });
  sockets.push(socket as Socket<unknown>); // cast: the list only closes them, whatever their data
  await within(opened.promise, "client open");
  return conn!;
}

/** Connects a raw socket (no framing) that records what it receives and when it closes. */
async function connectRaw(port: number) {
  const closed = Promise.withResolvers<void>();
  const received: number[] = [];
  const socket = await Bun.connect({
    hostname: HOST,
    port,
    socket: {
      binaryType: "uint8array",
      data: (_s, chunk: Uint8Array) => void received.push(...chunk),
      close: () => closed.resolve(),
      error: () => closed.resolve(),
    },
  });
  sockets.push(socket as Socket<unknown>); // cast: the list only closes them, whatever their data
  return { socket, received, closed: closed.promise };
}

/** An echo server: replies `{ echo: value }`; a message `{ type: "bad" }` is a ProtocolError. */
function echoHandler(): Recorder {
  return new Recorder((conn, value) => {
    if (Reflect.get(Object(value), "type") === "bad") throw new ProtocolError(`Unknown message type "bad"`);
    conn.send({ echo: value });
  });
}

describe("Connection", () => {
  test("round-trips messages client -> server -> client", async () => {
    const server = startServer(echoHandler());
    const client = new Recorder();
    const conn = await connectClient(server.port, client);
    const messages = [
      { type: "ping", n: 1 },
      {
        type: "data",
        bytes: new Uint8Array([0, 1, 2, 255]),
        name: "café ü.txt",
        list: [1, "two", null, true],
      },
      "bare string",
    ];
    for (const m of messages) expect(conn.send(m)).toBe(true);
    const replies = await client.nextMessages(3);
    expect(replies).toEqual(messages.map((m) => ({ echo: m })));
    expect(replies[1]).toMatchObject({ echo: { bytes: expect.any(Uint8Array) } });
  });

  test("frees each chunk the socket hands over once it is decoded; the messages keep their bytes", async () => {
    const recorder = new Recorder();
    const chunks: Uint8Array[] = [];
    const handlers = connectionHandlers<undefined>((socket) => {
      new Connection(socket, recorder, undefined, { log: () => {} });
    });
    const data = handlers.data!;
    const listener = Bun.listen<Connection>({
      hostname: HOST,
      port: 0,
      socket: {
        ...handlers,
        data: (socket, chunk) => {
          chunks.push(chunk);
          data(socket, chunk);
        },
      },
    });
    listeners.push(listener);
    const conn = await connectClient(listener.port, new Recorder());
    const bytes = new Uint8Array(300_000).map((_, i) => i & 255); // a piece-sized frame, in several reads
    conn.send({ t: "piece", bytes });
    conn.send({ t: "small" });
    expect(await recorder.nextMessages(2)).toEqual([{ t: "piece", bytes }, { t: "small" }]);
    expect(chunks.length).toBeGreaterThan(0);
    for (const chunk of chunks) expect(chunk.buffer.byteLength).toBe(0); // detached: its memory is free
  });

  test("releaseChunk frees only a buffer the chunk covers whole", () => {
    const whole = new Uint8Array(64);
    releaseChunk(whole);
    expect(whole.buffer.byteLength).toBe(0);
    const view = new Uint8Array(new ArrayBuffer(64), 8, 16);
    releaseChunk(view);
    expect(view.buffer.byteLength).toBe(64);
    const shared = new Uint8Array(new SharedArrayBuffer(64));
    releaseChunk(shared);
    expect(shared.buffer.byteLength).toBe(64);
    releaseChunk(whole); // already detached: nothing to do
  });

  test("delivers server-initiated messages to the client and replies back to the server", async () => {
    const serverHandler = new Recorder();
    const server = startServer(serverHandler, {}, { type: "hello", tracker: 1 });
    const client = new Recorder();
    const conn = await connectClient(server.port, client);
    expect(await client.nextMessages(1)).toEqual([{ type: "hello", tracker: 1 }]);
    conn.send({ type: "thanks", hash: new Uint8Array(20).fill(9) });
    expect(await serverHandler.nextMessages(1)).toEqual([
      { type: "thanks", hash: new Uint8Array(20).fill(9) },
    ]);
  });

  test("carries a large message through partial writes and drain, and drained() resolves", async () => {
    const bounds = { messageBounds: { blob: 8 * 1024 * 1024 } };
    const server = startServer(new Recorder((conn, value) => conn.send({ t: "blob", echo: value })), bounds);
    const client = new Recorder();
    const conn = await connectClient(server.port, client, bounds);
    const big = new Uint8Array(6 * 1024 * 1024).map((_, i) => (i * 7) & 0xff);
    conn.send({ t: "blob", big });
    conn.send({ t: "after" }); // goes between the blob's parts: it is echoed first
    await within(conn.drained(), "the client outbox to drain");
    // cast: the echoes of the two messages just sent; the expectations check their shape
    const replies = (await client.nextMessages(2)) as { t: string; echo: { t: string; big?: Uint8Array } }[];
    expect(replies[0]).toEqual({ t: "blob", echo: { t: "after" } });
    expect(replies[1]!.echo.big!.byteLength).toBe(big.byteLength);
    expect(Buffer.compare(replies[1]!.echo.big!, big)).toBe(0);
    expect(conn.queuedBytes).toBe(0);
  }, 15_000);

  test("a handler throwing ProtocolError closes only that connection", async () => {
    const handler = echoHandler();
    const server = startServer(handler);
    const good = new Recorder();
    const bad = new Recorder();
    const goodConn = await connectClient(server.port, good);
    const badConn = await connectClient(server.port, bad);
    goodConn.send({ n: 1 });
    await good.nextMessages(1);

    badConn.send({ type: "bad" });
    badConn.send({ n: "never answered" });
    await bad.until(() => bad.closes === 1, "the bad client to be closed");
    expect(badConn.isClosed).toBe(true);
    expect(bad.messages).toEqual([]);
    expect(server.conns.filter((c) => c.isClosed)).toHaveLength(1);
    expect(server.logs).toHaveLength(1);
    expect(server.logs[0]).toContain("127.0.0.1:");
    expect(server.logs[0]).toContain('ProtocolError: Unknown message type "bad"');

    goodConn.send({ n: 2 });
    expect(await good.nextMessages(2)).toEqual([{ echo: { n: 1 } }, { echo: { n: 2 } }]);
    expect(goodConn.isClosed).toBe(false);
    expect(handler.closes).toBe(1); // close() reached the handler once, for the bad connection
  });

  test("a 4 GiB length prefix closes the connection and the server still answers a new one", async () => {
    const server = startServer(echoHandler());
    const raw = await connectRaw(server.port);
    raw.socket.write(new Uint8Array([0xff, 0xff, 0xff, 0xff, 1, 2, 3]));
    await within(raw.closed, "the server to close the raw socket");
    expect(raw.received).toEqual([]);
    expect(server.logs.join("\n")).toContain("FrameTooLargeError");

    const client = new Recorder();
    const conn = await connectClient(server.port, client);
    conn.send({ type: "ping" });
    expect(await client.nextMessages(1)).toEqual([{ echo: { type: "ping" } }]);
  });

  test("a well-framed body of CBOR garbage closes the connection", async () => {
    const server = startServer(echoHandler());
    const raw = await connectRaw(server.port);
    raw.socket.write(new Uint8Array([0, 0, 0, 2, 0x01, 0x02])); // a CBOR 1 followed by a trailing byte
    await within(raw.closed, "the server to close the raw socket");
    expect(server.logs.join("\n")).toContain("Cannot decode CBOR frame");
  });

  test("a frame above maxFrameBytes is refused as soon as its header arrives", async () => {
    const server = startServer(echoHandler(), { maxFrameBytes: 64 });
    const raw = await connectRaw(server.port);
    raw.socket.write(new Uint8Array([0, 0, 0, 65])); // header only, no body ever sent
    await within(raw.closed, "the server to close the raw socket");
    expect(server.logs.join("\n")).toContain("FrameTooLargeError");
  });

  test("messages split across many tiny writes still arrive whole", async () => {
    const server = startServer(echoHandler());
    const client = new Recorder();
    const clientConn = await connectClient(server.port, client);
    const raw = await connectRaw(server.port);
    const frame = new Uint8Array([0, 0, 0, 5, 0xa1, 0x61, 0x6e, 0x18, 42]); // {n: 42}
    for (const byte of frame) {
      raw.socket.write(new Uint8Array([byte]));
      await Bun.sleep(1);
    }
    const echo = encodeMessage({ echo: { n: 42 } });
    await within(
      (async () => {
        while (raw.received.length < echo.byteLength) await Bun.sleep(5);
      })(),
      "the echo to the raw socket",
    );
    const bodies = new FrameDecoder().push(Uint8Array.from(raw.received));
    expect(bodies.map(decodeMessage)).toEqual([{ echo: { n: 42 } }]);
    expect(clientConn.isClosed).toBe(false);
    expect(server.conns.some((c) => c.isClosed)).toBe(false);
  });

  test("the server's handler sees close when the client ends", async () => {
    const handler = echoHandler();
    const server = startServer(handler);
    const conn = await connectClient(server.port, new Recorder());
    await within(
      (async () => {
        while (server.conns.length === 0) await Bun.sleep(5);
      })(),
      "the server to accept",
    );
    conn.end();
    await handler.until(() => handler.closes === 1, "the server to see the close");
    expect(server.conns[0]!.isClosed).toBe(true);
    expect(() => conn.send({ late: true })).not.toThrow(); // sending on a closing socket is harmless
  });

  // Bun hands an exception thrown in the data handler to the socket's `error` handler: STYLE §4.3
  // wants such a bug logged and the connection closed, not left open and silent.
  test("a handler throwing a plain Error (a bug) is logged and its socket closed", async () => {
    const server = startServer(
      new Recorder(() => {
        throw new Error("a bug in the handler");
      }),
    );
    const raw = await connectRaw(server.port);
    raw.socket.write(encodeMessage({ type: "ping" }));
    await within(raw.closed, "the server to close the socket of a failed handler", 500);
    expect(server.logs.join("\n")).toContain("a bug in the handler");
  });
});

describe("Connection: messages in parts", () => {
  const MIB = 1024 * 1024;
  const blob = (bytes: number) => new Uint8Array(bytes).map((_, i) => (i * 31 + (i >> 12)) & 0xff);
  /** The raw frames of a `{ t: "blob", big }` message in parts, as a sender's connection writes them. */
  const partFrames = (value: unknown, kind = "blob") =>
    [...messageParts(kind, encodeValue(value))].map((p) => encodeMessage({ t: "msg_part", ...p }));
  const waitForConn = (server: Server) =>
    within(
      (async () => {
        while (server.conns.length === 0) await Bun.sleep(2);
      })(),
      "the server to accept",
    );

  test("a message far over the receiver's frame limit arrives whole, with small ones sent after it in between", async () => {
    const handler = new Recorder();
    // No frame above a part (and its few header bytes) is taken: the message is 5x that.
    const server = startServer(handler, {
      maxFrameBytes: PART_BYTES + 1024,
      messageBounds: { blob: 16 * MIB },
    });
    const conn = await connectClient(server.port, new Recorder());
    await waitForConn(server);
    server.conns[0]!.pause(); // the receiver reads nothing yet: the parts wait at the sender
    const big = blob(5 * PART_BYTES + 7);
    expect(conn.send({ t: "blob", big })).toBe(false);
    expect(conn.queuedBytes).toBeGreaterThan(0);
    for (let n = 0; n < 3; n++) expect(conn.send({ t: "small", n })).toBe(false);
    server.conns[0]!.resume();
    const got = await handler.nextMessages(4);
    expect(got.slice(0, 3)).toEqual([0, 1, 2].map((n) => ({ t: "small", n })));
    expect(got[3]).toEqual({ t: "blob", big });
    await within(conn.drained(), "the sender to drain");
    expect(conn.queuedBytes).toBe(0);
    expect(server.conns[0]!.isClosed).toBe(false);
  }, 15_000);

  test("messages at and just over WHOLE_MESSAGE_BYTES both arrive; only the larger one needs a bound", async () => {
    const handler = new Recorder();
    const server = startServer(handler, { messageBounds: { blob: 4 * MIB } });
    const conn = await connectClient(server.port, new Recorder());
    // The bytes a `{t, big}` map costs around its byte string (of a size near the limit).
    const around =
      encodeValue({ t: "blob", big: blob(WHOLE_MESSAGE_BYTES - 100) }).byteLength -
      (WHOLE_MESSAGE_BYTES - 100);
    const whole = { t: "blob", big: blob(WHOLE_MESSAGE_BYTES - around) };
    expect(encodeValue(whole).byteLength).toBe(WHOLE_MESSAGE_BYTES);
    const over = { t: "blob", big: blob(WHOLE_MESSAGE_BYTES - around + 1) };
    conn.send(whole);
    conn.send(over);
    expect(await handler.nextMessages(2)).toEqual([whole, over]);
    // A receiver without a bound for blobs takes the first and refuses the second.
    const strict = new Recorder();
    const other = startServer(strict);
    const conn2 = await connectClient(other.port, new Recorder());
    conn2.send(whole);
    conn2.send(over);
    await strict.until(() => strict.closes === 1, "the strict receiver to close");
    expect(strict.messages).toEqual([whole]);
    expect(other.logs.join("\n")).toContain("A blob message in parts is not taken here");
  }, 15_000);

  test("a slow reader paces the sender: a message 8x the outbox limit goes through without closing it", async () => {
    const handler = new Recorder();
    const server = startServer(handler, { messageBounds: { blob: 32 * MIB } });
    let conn: Connection | undefined;
    const opened = Promise.withResolvers<void>();
    const socket = await Bun.connect<Connection>({
      hostname: HOST,
      port: server.port,
      socket: connectionHandlers((s) => {
        conn = new Connection(s, new Recorder(), undefined, { log: () => {}, maxQueuedBytes: 3 * MIB });
        opened.resolve();
      }),
    });
    sockets.push(socket as Socket<unknown>); // cast: the list only closes them, whatever their data
    await within(opened.promise, "client open");
    await waitForConn(server);
    server.conns[0]!.pause();
    const big = blob(24 * MIB);
    conn!.send({ t: "blob", big });
    await Bun.sleep(300);
    // Sent whole, the 24 MiB would be queued at once and the outbox would have given up.
    expect(conn!.isClosed).toBe(false);
    expect(conn!.queuedBytes).toBeGreaterThan(3 * MIB);
    server.conns[0]!.resume();
    expect(await handler.nextMessages(1)).toEqual([{ t: "blob", big }]);
    await within(conn!.drained(), "the sender to drain");
    expect(conn!.isClosed).toBe(false);
  }, 20_000);

  test("every frame that is not a part reaches the handler as it decoded, CBOR undefined and null included", async () => {
    const handler = new Recorder();
    const server = startServer(handler);
    const raw = await connectRaw(server.port);
    raw.socket.write(new Uint8Array([0, 0, 0, 1, 0xf7, 0, 0, 0, 1, 0xf6])); // undefined, then null
    await handler.until(() => handler.messages.length === 2, "both values");
    expect(handler.messages).toEqual([undefined, null]);
  });

  test("a declared total over the kind's bound is refused at the first part, before its bytes are kept", async () => {
    const handler = new Recorder();
    const server = startServer(handler, { messageBounds: { blob: 2 * MIB } });
    const raw = await connectRaw(server.port);
    raw.socket.write(
      encodeMessage({ t: "msg_part", kind: "blob", total: 2 * MIB + 1, offset: 0, bytes: blob(PART_BYTES) }),
    );
    await within(raw.closed, "the server to close the raw socket");
    expect(server.logs.join("\n")).toContain("A blob message of 2097153 bytes exceeds the limit of 2097152");
    expect(handler.messages).toEqual([]);
  });

  test("a connection cut halfway through a message delivers nothing of it; the next connection is served", async () => {
    const handler = new Recorder();
    const server = startServer(handler, { messageBounds: { blob: 16 * MIB } });
    const raw = await connectRaw(server.port);
    const frames = partFrames({ t: "blob", big: blob(6 * MIB) });
    for (const frame of frames.slice(0, 3)) raw.socket.write(frame);
    raw.socket.write(encodeMessage({ t: "small", n: 1 })); // between parts: delivered at once
    await handler.until(() => handler.messages.length === 1, "the small message");
    raw.socket.terminate();
    await handler.until(() => handler.closes === 1, "the server to see the cut");
    expect(handler.messages).toEqual([{ t: "small", n: 1 }]);
    const conn = await connectClient(server.port, new Recorder());
    const big = blob(3 * MIB);
    conn.send({ t: "blob", big });
    await handler.until(() => handler.messages.length === 2, "the whole message on a new connection");
    expect(handler.messages[1]).toEqual({ t: "blob", big });
  }, 15_000);

  test("parts that decode to another type than they announced are refused", async () => {
    const handler = new Recorder();
    const server = startServer(handler, { messageBounds: { blob: 16 * MIB } });
    const raw = await connectRaw(server.port);
    for (const frame of partFrames({ t: "other", big: blob(3 * MIB) }, "blob")) raw.socket.write(frame);
    await within(raw.closed, "the server to close the raw socket");
    expect(server.logs.join("\n")).toContain("Parts announced a blob message, not other");
    expect(handler.messages).toEqual([]);
  });
});
