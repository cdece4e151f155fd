// A bounded write queue over a socket whose write() may accept only part of what it is given.
import { MAX_QUEUED_BYTES } from "./limits.ts";

/** What the outbox needs of a Bun socket. */
export interface Writable {
  write(data: Uint8Array): number;
  end(): void;
}

/** Queues what the socket did not accept and writes it on `flush()` (the socket's drain). */
export class Outbox {
  readonly socket: Writable;
  readonly maxQueuedBytes: number;
  #queue: Uint8Array[] = [];
  #queuedBytes = 0;

  constructor(socket: Writable, options: { maxQueuedBytes?: number } = {}) {
    this.socket = socket;
    this.maxQueuedBytes = options.maxQueuedBytes ?? MAX_QUEUED_BYTES;
  }

  /** Bytes accepted but not yet handed to the kernel. */
  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  /** Sends or queues `frame`; returns false when the caller should wait for a drain. */
  send(frame: Uint8Array): boolean {
    if (this.#queue.length === 0) {
      const written = this.socket.write(frame);
      if (written < 0) return false; // closing: the close handler cleans up
      if (written === frame.byteLength) return true;
      frame = frame.subarray(written);
    }
    this.#queue.push(frame);
    this.#queuedBytes += frame.byteLength;
    if (this.#queuedBytes > this.maxQueuedBytes) this.socket.end(); // a peer too slow to read
    return false;
  }

  /** Writes queued bytes until the socket pushes back; true once the queue is empty. */
  flush(): boolean {
    for (let head = this.#queue[0]; head !== undefined; head = this.#queue[0]) {
      const written = this.socket.write(head);
      if (written < 0) return false;
      this.#queuedBytes -= Math.max(written, 0);
      if (written < head.byteLength) {
        this.#queue[0] = head.subarray(written);
        return false;
      }
      this.#queue.shift();
    }
    return true;
  }
}
