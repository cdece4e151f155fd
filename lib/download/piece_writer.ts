// Shell: writes verified pieces into the temporary file off the main thread, in order of
// arrival, and tells the engine when too much waits (pause the sockets) and when each landed.
import { write } from "node:fs";
import { PIECE_BYTES } from "../pieces/constants.ts";

/** Callbacks of a PieceWriter. */
export interface PieceWriterEvents {
  written(index: number, data: Uint8Array): void;
  failed(message: string): void;
  /** Pending bytes crossed the high mark (true) or fell back under the low mark (false). */
  congested(full: boolean): void;
}

/** Bytes of written-but-not-landed pieces before the engine stops reading from peers. */
const HIGH_BYTES = 8 * 1024 * 1024;
const LOW_BYTES = 2 * 1024 * 1024;

export class PieceWriter {
  #fd: number;
  #events: PieceWriterEvents;
  #pendingBytes = 0;
  #pending = 0;
  #full = false;
  #idle: (() => void)[] = [];

  constructor(fd: number, events: PieceWriterEvents) {
    this.#fd = fd;
    this.#events = events;
  }

  /** Pieces handed over but not yet written. */
  get pending(): number {
    return this.#pending;
  }

  write(index: number, data: Uint8Array): void {
    this.#pending++;
    this.#pendingBytes += data.byteLength;
    if (!this.#full && this.#pendingBytes > HIGH_BYTES) {
      this.#full = true;
      this.#events.congested(true);
    }
    write(this.#fd, data, 0, data.byteLength, index * PIECE_BYTES, (err, bytes) => {
      this.#pending--;
      this.#pendingBytes -= data.byteLength;
      if (err || bytes !== data.byteLength) this.#events.failed(err ? err.message : `short write of piece ${index}`);
      else this.#events.written(index, data);
      if (this.#full && this.#pendingBytes < LOW_BYTES) {
        this.#full = false;
        this.#events.congested(false);
      }
      if (this.#pending === 0) for (const wake of this.#idle.splice(0)) wake();
    });
  }

  /** Resolves once every piece handed over has been written (or failed). */
  idle(): Promise<void> {
    return this.#pending === 0 ? Promise.resolve() : new Promise((resolve) => this.#idle.push(resolve));
  }
}
