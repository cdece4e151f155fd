// Shell: writes verified pieces into the temporary file off the main thread, in order of
// arrival, and tells the engine when each landed (the engine bounds how much waits).
import { write } from "node:fs";
import { PIECE_BYTES } from "../pieces/constants.ts";

/** Callbacks of a PieceWriter. */
export interface PieceWriterEvents {
  written(index: number, data: Uint8Array): void;
  failed(data: Uint8Array, message: string): void;
}

export class PieceWriter {
  #fd: number;
  #events: PieceWriterEvents;
  #pending = 0;
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
    write(this.#fd, data, 0, data.byteLength, index * PIECE_BYTES, (err, bytes) => {
      this.#pending--;
      if (err || bytes !== data.byteLength)
        this.#events.failed(data, err ? err.message : `short write of piece ${index}`);
      else this.#events.written(index, data);
      if (this.#pending === 0) for (const wake of this.#idle.splice(0)) wake();
    });
  }

  /** Resolves once every piece handed over has been written (or failed). */
  idle(): Promise<void> {
    return this.#pending === 0 ? Promise.resolve() : new Promise((resolve) => this.#idle.push(resolve));
  }
}
