// A raw client for hostile-input e2e tests: writes any bytes (garbage, truncated or oversized
// frames) inside a TLS 1.3 connection (or, with `plain`, straight onto TCP, as an attacker
// that skips the handshake), reads back whatever frames arrive, and notices when the server hangs up.
//
//   const raw = await RawSocket.connect({ port });
//   raw.write(Uint8Array.of(0xff, 0xff, 0xff, 0xff));      // a 4 GiB length prefix
//   expect(await raw.waitClosed(2_000)).toBe(true);
//   const ok = await RawSocket.connect({ port });
//   expect(await ok.request({ t: "list_groups" })).toMatchObject({ t: "reply", ok: false });
//   afterEach(closeRawSockets); // destroys every socket made here
//
// Test helper (never a spec file). Frames are parsed here without the product's limits: the
// server under test is the one being checked, not this reader.
import type { Socket } from "bun";
import { messageOf } from "../../lib/errors.ts";
import { keyId } from "../../lib/identity/fingerprint.ts";
import type { TlsIdentity } from "../../lib/identity/key_file.ts";
import { decodeMessage, encodeMessage, encodeValue } from "../../lib/wire/codec.ts";
import { messageParts } from "../../lib/wire/parts.ts";
import { channelBinding, connectTls, type PeerKey } from "../../lib/wire/tls.ts";
import { TEST_IDENTITY } from "./identity.ts";

const HOST = "127.0.0.1";
const HEADER_BYTES = 4;
const DEFAULT_TIMEOUT_MS = 5_000;

type Frame = Record<string, unknown>;

interface Waiter {
  match: (frame: Frame) => boolean;
  resolve: (frame: Frame | undefined) => void;
}

const open = new Set<RawSocket>();

/** Destroys every RawSocket still open (call from afterEach). */
export function closeRawSockets(): void {
  for (const raw of open) raw.destroy();
  open.clear();
}

/** One raw client connection to a server under test. */
export class RawSocket {
  /** Every frame received and not yet consumed, decoded (a body that does not decode is `{ undecodable }`). */
  readonly frames: Frame[] = [];
  /** Bytes received in total (frames or not; after decryption unless `plain`). */
  bytesReceived = 0;
  /** The server's key id and this connection's channel binding (TLS only). */
  server: PeerKey | undefined;
  /** Resolves when the connection is closed, by either side. */
  readonly done: Promise<void>;
  #socket!: Socket<RawSocket>;
  #closed = false;
  #markDone!: () => void;
  #inbox = new Uint8Array(0);
  #outbox: Uint8Array[] = [];
  #drainWaiters: (() => void)[] = [];
  #waiters: Waiter[] = [];
  #nextId = 1;

  private constructor() {
    this.done = new Promise((resolve) => (this.#markDone = resolve));
  }

  /**
   * Opens a connection to `host:port` (default host 127.0.0.1) and, unless `plain`, completes
   * a TLS 1.3 handshake presenting `identity` (default TEST_IDENTITY); nothing else is sent.
   */
  static async connect(target: {
    host?: string;
    port: number;
    plain?: boolean;
    identity?: TlsIdentity;
  }): Promise<RawSocket> {
    const raw = new RawSocket();
    let secured: () => void = () => {};
    const handshake = new Promise<void>((resolve) => (secured = resolve));
    raw.#socket = await Bun.connect<RawSocket>({
      hostname: target.host ?? HOST,
      port: target.port,
      data: raw,
      ...(target.plain ? {} : { tls: connectTls(target.identity ?? TEST_IDENTITY) }),
      socket: {
        binaryType: "uint8array",
        handshake: (socket) => {
          try {
            const cert = socket.getPeerX509Certificate();
            const spki = new Uint8Array(cert.publicKey.export({ format: "der", type: "spki" }));
            raw.server = {
              id: keyId(spki),
              binding: channelBinding(socket),
            };
          } catch {
            // the server refused us mid-handshake: `closed` says so
          }
          secured();
        },
        data: (_s, chunk) => raw.#receive(chunk),
        drain: () => raw.#flush(),
        close: () => raw.#markClosed(),
        error: () => raw.#markClosed(),
        end: () => raw.#markClosed(),
        connectError: () => raw.#markClosed(),
      },
    });
    open.add(raw);
    if (!target.plain) await Promise.race([handshake, raw.done]);
    return raw;
  }

  /** Whether the connection is closed (the server hung up, or we did). */
  get closed(): boolean {
    return this.#closed;
  }

  /** Writes `bytes` as they are, queueing what the kernel does not take at once. */
  write(bytes: Uint8Array): void {
    if (this.#closed) return;
    if (this.#outbox.length > 0) {
      this.#outbox.push(bytes);
      return;
    }
    const written = this.#socket.write(bytes);
    if (written >= 0 && written < bytes.byteLength) this.#outbox.push(bytes.subarray(written));
  }

  /** Encodes one value as a frame and writes it. */
  send(value: unknown): void {
    this.write(encodeMessage(value));
  }

  /**
   * The `msg_part` frames of one value, as the product's connections send a message larger than
   * WHOLE_MESSAGE_BYTES (lib/wire/parts.ts): write them all, some, or others between them.
   */
  static partFrames(value: { t: string } & Frame): Uint8Array[] {
    return [...messageParts(value.t, encodeValue(value))].map((part) =>
      encodeMessage({ t: "msg_part", ...part }),
    );
  }

  /** Sends a tracker request in parts with a fresh `id` and returns its reply frame (undefined: none came). */
  requestInParts(body: { t: string } & Frame, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<Frame | undefined> {
    const id = this.#nextId++;
    for (const frame of RawSocket.partFrames({ ...body, id })) this.write(frame);
    return this.next((f) => f.t === "reply" && f.id === id, timeoutMs);
  }

  /** A fresh request id, for requests written by hand (partFrames). */
  nextId(): number {
    return this.#nextId++;
  }

  /** Resolves once every byte written so far is with the kernel (or the socket closed). */
  flushed(): Promise<void> {
    if (this.#outbox.length === 0 || this.#closed) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  /** Bytes written but not yet taken by the kernel. */
  get queuedBytes(): number {
    return this.#outbox.reduce((sum, b) => sum + b.byteLength, 0);
  }

  /** Stops reading: the server's writes pile up in the kernel, then in its outbox. */
  pause(): void {
    this.#socket.pause();
  }

  resume(): void {
    this.#socket.resume();
  }

  /**
   * Consumes and returns the first received frame `match` accepts (the next one by default),
   * waiting up to `timeoutMs`; undefined if the connection closes first or time runs out.
   */
  next(
    match: (frame: Frame) => boolean = () => true,
    timeoutMs = DEFAULT_TIMEOUT_MS,
  ): Promise<Frame | undefined> {
    const at = this.frames.findIndex(match);
    if (at >= 0) return Promise.resolve(this.frames.splice(at, 1)[0]);
    if (this.#closed) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const waiter: Waiter = {
        match,
        resolve: (frame) => {
          clearTimeout(timer);
          this.#waiters = this.#waiters.filter((w) => w !== waiter);
          resolve(frame);
        },
      };
      const timer = setTimeout(() => waiter.resolve(undefined), timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  /** Sends a tracker request with a fresh `id` and returns its reply frame (undefined: none came). */
  request(body: { t: string } & Frame, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<Frame | undefined> {
    const id = this.#nextId++;
    this.send({ ...body, id });
    return this.next((f) => f.t === "reply" && f.id === id, timeoutMs);
  }

  /** Resolves true once the connection is closed, false if it is still open after `timeoutMs`. */
  async waitClosed(timeoutMs: number): Promise<boolean> {
    if (this.#closed) return true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    const closed = await Promise.race([this.done.then(() => true as const), timeout]);
    clearTimeout(timer);
    return closed;
  }

  /** Half-closes: no more bytes from us (FIN); the server may still answer. */
  end(): void {
    if (!this.#closed) this.#socket.end();
  }

  /** Closes at once (RST when data is unread), forgetting whatever is queued. */
  destroy(): void {
    if (!this.#closed) this.#socket.terminate();
    this.#markClosed();
    open.delete(this);
  }

  #receive(chunk: Uint8Array): void {
    this.bytesReceived += chunk.byteLength;
    const inbox = new Uint8Array(this.#inbox.byteLength + chunk.byteLength);
    inbox.set(this.#inbox);
    inbox.set(chunk, this.#inbox.byteLength);
    let at = 0;
    while (inbox.byteLength - at >= HEADER_BYTES) {
      const length = new DataView(inbox.buffer, at).getUint32(0);
      if (inbox.byteLength - at - HEADER_BYTES < length) break;
      const body = inbox.subarray(at + HEADER_BYTES, at + HEADER_BYTES + length);
      at += HEADER_BYTES + length;
      this.#deliver(body);
    }
    this.#inbox = inbox.slice(at);
  }

  #deliver(body: Uint8Array): void {
    let frame: Frame;
    try {
      const value = decodeMessage(body);
      frame =
        typeof value === "object" && value !== null && !Array.isArray(value)
          ? (value as Frame) // any CBOR map: a frame's fields are what tests inspect
          : { undecodable: value };
    } catch (err) {
      frame = { undecodable: messageOf(err) };
    }
    const waiter = this.#waiters.find((w) => w.match(frame));
    if (waiter) waiter.resolve(frame);
    else this.frames.push(frame);
  }

  #flush(): void {
    while (this.#outbox.length > 0) {
      const head = this.#outbox[0]!;
      const written = this.#socket.write(head);
      if (written < 0) return;
      if (written < head.byteLength) {
        this.#outbox[0] = head.subarray(written);
        return;
      }
      this.#outbox.shift();
    }
    this.#wakeDrainWaiters();
  }

  #markClosed(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#outbox = [];
    this.#wakeDrainWaiters();
    for (const waiter of [...this.#waiters]) waiter.resolve(undefined);
    this.#markDone();
  }

  #wakeDrainWaiters(): void {
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const wake of waiters) wake();
  }
}
