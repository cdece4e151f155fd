// Reusable fixed-size buffers for large frame bodies. A download at loopback speed receives a
// 512 KiB piece every ~1 ms; a fresh buffer for each is a GiB of garbage per GiB fetched, which
// the collector lets pile up (and each fresh buffer costs page faults on first touch). Bodies
// taken from a pool and given back once written cost neither.

export class BufferPool {
  readonly bufferBytes: number;
  readonly #maxIdle: number;
  #idle: ArrayBuffer[] = [];
  /** Buffers out on loan: only these are taken back, each once, so no two owners ever share one. */
  #loaned = new WeakSet<ArrayBuffer>();

  constructor(options: { bufferBytes: number; maxIdle: number }) {
    this.bufferBytes = options.bufferBytes;
    this.#maxIdle = options.maxIdle;
  }

  /** Idle buffers kept for reuse. */
  get idle(): number {
    return this.#idle.length;
  }

  /** A view of `bytes` (at most bufferBytes) at the start of a pooled buffer. */
  take(bytes: number): Uint8Array {
    if (bytes > this.bufferBytes)
      throw new RangeError(`${bytes} bytes do not fit a ${this.bufferBytes}-byte pool buffer`);
    const buffer = this.#idle.pop() ?? new ArrayBuffer(this.bufferBytes);
    this.#loaned.add(buffer);
    return new Uint8Array(buffer, 0, bytes);
  }

  /**
   * Gives back the buffer under `view` (any view of it). The caller must hold no view of it any
   * more. A buffer this pool did not lend, or already got back, is ignored (the collector has it).
   */
  give(view: Uint8Array): void {
    const buffer = view.buffer;
    // A view of a SharedArrayBuffer was never lent by this pool.
    if (!(buffer instanceof ArrayBuffer) || !this.#loaned.has(buffer)) return;
    this.#loaned.delete(buffer);
    if (this.#idle.length < this.#maxIdle) this.#idle.push(buffer);
  }
}
