// spec/unit/wire/connection.spec.ts: Connection over real loopback sockets: round trips, and peer errors cost one connection.
import { afterEach, describe, expect, test } from "bun:test";
import type { Socket, TCPSocketListener } from "bun";
import { ProtocolError } from "../../../lib/errors.ts";
import { decodeMessage, encodeMessage } from "../../../lib/wire/codec.ts";
import {
  Connection,
  type ConnectionHandler,
  type ConnectionOptions,
  connectionHandlers,
} from "../../../lib/wire/connection.ts";
import { FrameDecoder } from "../../../lib/wire/frame.ts";

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
async function connectClient(port: number, handler: ConnectionHandler<undefined>): Promise<Connection> {
  let conn: Connection | undefined;
  const opened = Promise.withResolvers<void>();
  const socket = await Bun.connect<Connection>({
    hostname: HOST,
    port,
    socket: connectionHandlers((s) => {
      conn = new Connection(s, handler, undefined, { log: () => {} });
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
    const server = startServer(echoHandler());
    const client = new Recorder();
    const conn = await connectClient(server.port, client);
    const big = new Uint8Array(6 * 1024 * 1024).map((_, i) => (i * 7) & 0xff);
    conn.send({ type: "blob", big });
    conn.send({ type: "after" }); // on loopback, ~2 MiB of the blob is still queued here: drain does the rest
    await within(conn.drained(), "the client outbox to drain");
    // cast: the echoes of the two messages just sent; the expectations check their shape
    const replies = (await client.nextMessages(2)) as { echo: { type: string; big?: Uint8Array } }[];
    expect(replies[0]!.echo.big!.byteLength).toBe(big.byteLength);
    expect(Buffer.compare(replies[0]!.echo.big!, big)).toBe(0);
    expect(replies[1]).toEqual({ echo: { type: "after" } });
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
