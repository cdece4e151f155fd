// Shell: one Bun socket = FrameDecoder + Outbox + dispatch of decoded messages to a handler.
// A message larger than WHOLE_MESSAGE_BYTES goes in parts, paced by the socket, and is
// delivered whole (see parts.ts): protocols above never see parts, nor a frame-size ceiling.
import type { Socket, SocketHandler } from "bun";
import { ProtocolError } from "../errors.ts";
import type { BufferPool } from "./buffer_pool.ts";
import { decodeMessage, encodedBytesAtLeast, encodeMessage, encodeOutgoing, encodeValue } from "./codec.ts";
import { asMap, readEnvelope } from "./fields.ts";
import { FrameDecoder } from "./frame.ts";
import { IDLE_TIMEOUT_S, MAX_QUEUED_MESSAGES } from "./limits.ts";
import { Outbox } from "./outbox.ts";
import { MessageAssembler, PART_BYTES, parseMessagePart, WHOLE_MESSAGE_BYTES } from "./parts.ts";

/** What a protocol does with a connection's messages; `message` may throw ProtocolError. */
export interface ConnectionHandler<S> {
  message(conn: Connection<S>, value: unknown): void;
  close?(conn: Connection<S>): void;
  /** A part of a message sent in parts arrived (the peer is alive and sending). */
  part?(conn: Connection<S>): void;
}

/** A message waiting to go in parts: only the one being sent is held encoded. */
interface Outgoing {
  kind: string;
  value: unknown;
  body: Uint8Array | undefined;
  /** Its encoded size (until it is encoded, at least this). */
  totalBytes: number;
  offset: number;
}

/** Options for one connection. */
export interface ConnectionOptions {
  maxFrameBytes?: number;
  maxQueuedBytes?: number;
  /** Closed when no whole frame arrives for this long; 0 disables. */
  idleTimeoutS?: number;
  /** Lends large frame bodies; the handler gives back those it is done with. */
  pool?: BufferPool | readonly BufferPool[];
  /** Where one-line protocol errors go; defaults to stderr. */
  log?: (line: string) => void;
  /** Per message type, the largest message taken in parts (none by default: see `messageBounds`). */
  messageBounds?: Readonly<Record<string, number>>;
}

/** A framed, bounded, message-level view of one socket; `state` is its protocol's own per-connection state. */
export class Connection<S = undefined> {
  readonly remote: string;
  state: S;
  #socket: Socket<Connection<S>>;
  #handler: ConnectionHandler<S>;
  #decoder: FrameDecoder;
  #outbox: Outbox;
  #idleTimeoutS: number;
  #log: (line: string) => void;
  #closed = false;
  #drainWaiters: (() => void)[] = [];
  #assembler: MessageAssembler;
  #large: Outgoing[] = [];

  constructor(
    socket: Socket<Connection<S>>,
    handler: ConnectionHandler<S>,
    state: S,
    options: ConnectionOptions = {},
  ) {
    this.#socket = socket;
    this.#handler = handler;
    this.state = state;
    this.remote = `${socket.remoteAddress}:${socket.remotePort}`;
    this.#decoder = new FrameDecoder(options);
    this.#outbox = new Outbox(socket, options);
    this.#assembler = new MessageAssembler(options.messageBounds);
    this.#idleTimeoutS = options.idleTimeoutS ?? IDLE_TIMEOUT_S;
    this.#log = options.log ?? ((line) => console.error(line));
    socket.data = this;
    socket.setNoDelay(true);
    if (this.#idleTimeoutS > 0) socket.timeout(this.#idleTimeoutS);
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  /** The peer's IP address (without port). */
  get remoteAddress(): string {
    return this.#socket.remoteAddress;
  }

  /** The frame size limit; raise it once the peer has authenticated. */
  set maxFrameBytes(bytes: number) {
    this.#decoder.maxFrameBytes = bytes;
  }

  /**
   * Per message type, the largest message taken in parts; raise it once the peer has proven who
   * it is (a stranger's parts are refused, as its large frames are).
   */
  set messageBounds(bounds: Readonly<Record<string, number>>) {
    this.#assembler.bounds = bounds;
  }

  /** Bytes not yet handed to the kernel: queued frames and what is left of messages in parts. */
  get queuedBytes(): number {
    let bytes = this.#outbox.queuedBytes;
    for (const m of this.#large) bytes += m.totalBytes - m.offset;
    return bytes;
  }

  /**
   * Encodes and sends one message, in parts when it is larger than WHOLE_MESSAGE_BYTES (smaller
   * messages sent meanwhile go between its parts); false when the caller should await `drained()`.
   */
  send(value: unknown): boolean {
    if (this.#closed) return false;
    // Those behind the first large message wait as values (sharing the sender's buffers) and
    // are encoded in their turn: a peer that stops reading costs one encoded message, not one
    // per reply. One known to be large from its strings alone is not even encoded to learn so.
    const queueing = this.#large.length > 0;
    const atLeast = queueing ? encodedBytesAtLeast(value, WHOLE_MESSAGE_BYTES) : 0;
    const out =
      atLeast > WHOLE_MESSAGE_BYTES
        ? { bytes: atLeast, body: undefined } // its size is known once it is encoded, in its turn
        : encodeOutgoing(value, WHOLE_MESSAGE_BYTES, !queueing);
    if ("frame" in out) return this.#outbox.send(out.frame) && this.#large.length === 0;
    if (this.#large.length >= MAX_QUEUED_MESSAGES) {
      this.end(`a reader too slow: ${MAX_QUEUED_MESSAGES} large messages queued for it`);
      return false;
    }
    this.#large.push({ kind: typeOf(value), value, body: out.body, totalBytes: out.bytes, offset: 0 });
    this.#pump();
    return this.queuedBytes === 0;
  }

  /** Sends an already encoded frame (a relayed or cached message). */
  sendFrame(frame: Uint8Array): boolean {
    if (this.#closed) return false;
    return this.#outbox.send(frame) && this.#large.length === 0;
  }

  /** Resolves once everything sent is with the kernel, parts included (at once if it is). */
  drained(): Promise<void> {
    if (this.queuedBytes === 0 || this.#closed) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  /** Stops reading (the consumer is behind); `resume()` starts again. */
  pause(): void {
    this.#socket.pause();
  }

  resume(): void {
    this.#socket.resume();
  }

  /** Closes after flushing what the kernel accepted; `reason` is logged when given. */
  end(reason?: string): void {
    if (reason) this.#log(`closing connection ${this.remote}: ${reason}`);
    this.#socket.end();
  }

  /** Socket event: bytes arrived. Peer mistakes cost this connection only. */
  receive(chunk: Uint8Array): void {
    if (this.#closed) return;
    try {
      const bodies = this.#decoder.push(chunk);
      if (bodies.length > 0 && this.#idleTimeoutS > 0) this.#socket.timeout(this.#idleTimeoutS);
      for (const body of bodies) {
        if (this.#closed) return;
        const message = this.#whole(decodeMessage(body));
        if (message) this.#handler.message(this, message.value);
      }
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      this.end(`${err.name}: ${err.message}`);
      this.#markClosed();
    }
  }

  /** Socket event: the kernel took what we gave; write more. */
  drain(): void {
    if (!this.#outbox.flush()) return;
    this.#pump();
    if (this.queuedBytes === 0) this.#wakeDrainWaiters();
  }

  /**
   * A decoded frame as the handler gets it: itself (whatever it is, even CBOR `undefined`), or
   * nothing for a part until its message is whole.
   */
  #whole(value: unknown): { value: unknown } | undefined {
    if (!isPart(value)) return { value };
    this.#handler.part?.(this);
    const body = this.#assembler.add(parseMessagePart(asMap(value, "message part")));
    if (body === undefined) return undefined;
    const whole = decodeMessage(body);
    const kind = readEnvelope(whole).t;
    if (kind !== this.#assembler.kind)
      throw new ProtocolError(`Parts announced a ${this.#assembler.kind} message, not ${kind}`);
    return { value: whole };
  }

  /**
   * Sends parts of the queued large messages while the kernel takes them: one part waits in
   * the outbox at most, the rest where it is, so a slow reader paces the sender.
   */
  #pump(): void {
    while (!this.#closed && this.#outbox.queuedBytes === 0) {
      const head = this.#large[0];
      if (!head) return;
      if (head.body === undefined) {
        head.body = encodeValue(head.value);
        head.totalBytes = head.body.byteLength;
      }
      const bytes = head.body.subarray(head.offset, head.offset + PART_BYTES);
      const part = { t: "msg_part", kind: head.kind, total: head.totalBytes, offset: head.offset, bytes };
      head.offset += bytes.byteLength;
      if (head.offset >= head.totalBytes) this.#large.shift();
      this.#outbox.send(encodeMessage(part));
    }
  }

  /** Socket event: a socket error, or a handler threw something other than ProtocolError (a bug). */
  failed(error: Error): void {
    if (!this.#closed)
      this.#log(`closing connection ${this.remote}: ${error.stack ?? `${error.name}: ${error.message}`}`);
    this.#socket.terminate();
    this.#markClosed();
  }

  /** Socket event: the socket is gone. */
  closed(): void {
    this.#markClosed();
  }

  #markClosed(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#large = []; // a message cut halfway is dropped whole: the receiver never delivers it
    this.#wakeDrainWaiters();
    this.#handler.close?.(this);
  }

  #wakeDrainWaiters(): void {
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const wake of waiters) wake();
  }
}

/** A decoded `msg_part` frame (any other value goes to the handler as it is). */
function isPart(value: unknown): boolean {
  return typeof value === "object" && value !== null && "t" in value && value.t === "msg_part";
}

/** The `t` of a message being sent (every message has one; "" is refused by any receiver). */
function typeOf(value: unknown): string {
  return typeof value === "object" && value !== null && "t" in value && typeof value.t === "string"
    ? value.t
    : "";
}

/**
 * Frees the memory of a chunk Bun handed to `data` once `receive` is done with it (it copies what
 * it keeps). Bun copies every socket read into a fresh buffer (up to 512 KiB: a GiB of them per
 * GiB received), which would otherwise wait for a full collection; detaching it (transfer to
 * length 0) gives it back to the allocator at once. Only a buffer the chunk covers whole, and
 * so Bun's own copy, is detached.
 */
export function releaseChunk(chunk: Uint8Array): void {
  const buffer = chunk.buffer;
  if (!(buffer instanceof ArrayBuffer) || buffer.detached) return;
  if (chunk.byteOffset !== 0 || chunk.byteLength !== buffer.byteLength) return;
  buffer.transfer(0);
}

/**
 * Bun socket handlers that forward every event to the socket's Connection. The handler type says
 * "buffer" because bun-types' listen/connect options accept no other; at run time chunks are plain
 * Uint8Arrays (`binaryType`), and `data` takes any Uint8Array, so both are right.
 */
export function connectionHandlers<S>(
  onOpen: (socket: Socket<Connection<S>>) => void,
): SocketHandler<Connection<S>> {
  return {
    binaryType: "uint8array",
    open: onOpen,
    data: (socket, chunk: Uint8Array) => {
      socket.data?.receive(chunk);
      releaseChunk(chunk);
    },
    drain: (socket) => socket.data?.drain(),
    close: (socket) => socket.data?.closed(),
    error: (socket, error) => socket.data?.failed(error),
    timeout: (socket) => {
      socket.data?.end("idle timeout");
      socket.data?.closed();
    },
    connectError: () => {},
  };
}
