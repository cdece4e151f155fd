// Shell: one Bun socket = FrameDecoder + Outbox + dispatch of decoded messages to a handler.
import type { Socket, SocketHandler } from "bun";
import { ProtocolError } from "../errors.ts";
import type { BufferPool } from "./buffer_pool.ts";
import { decodeMessage, encodeMessage } from "./codec.ts";
import { FrameDecoder } from "./frame.ts";
import { IDLE_TIMEOUT_S } from "./limits.ts";
import { Outbox } from "./outbox.ts";

/** What a protocol does with a connection's messages; `message` may throw ProtocolError. */
export interface ConnectionHandler<S> {
  message(conn: Connection<S>, value: unknown): void;
  close?(conn: Connection<S>): void;
}

/** Options for one connection. */
export interface ConnectionOptions {
  maxFrameBytes?: number;
  maxQueuedBytes?: number;
  /** Closed when no whole frame arrives for this long; 0 disables. */
  idleTimeoutS?: number;
  /** Lends large frame bodies; the handler gives back those it is done with. */
  pool?: BufferPool;
  /** Where one-line protocol errors go; defaults to stderr. */
  log?: (line: string) => void;
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

  /** Bytes queued for a slow reader. */
  get queuedBytes(): number {
    return this.#outbox.queuedBytes;
  }

  /** Encodes and sends one message; false when the caller should await `drained()`. */
  send(value: unknown): boolean {
    if (this.#closed) return false;
    return this.#outbox.send(encodeMessage(value));
  }

  /** Sends an already encoded frame (a relayed or cached message). */
  sendFrame(frame: Uint8Array): boolean {
    if (this.#closed) return false;
    return this.#outbox.send(frame);
  }

  /** Resolves once the outbox is empty (at once if it is). */
  drained(): Promise<void> {
    if (this.#outbox.queuedBytes === 0 || this.#closed) return Promise.resolve();
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
        this.#handler.message(this, decodeMessage(body));
      }
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      this.end(`${err.name}: ${err.message}`);
      this.#markClosed();
    }
  }

  /** Socket event: the kernel took what we gave; write more. */
  drain(): void {
    if (this.#outbox.flush()) this.#wakeDrainWaiters();
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
    this.#wakeDrainWaiters();
    this.#handler.close?.(this);
  }

  #wakeDrainWaiters(): void {
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const wake of waiters) wake();
  }
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
    data: (socket, chunk: Uint8Array) => socket.data?.receive(chunk),
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
