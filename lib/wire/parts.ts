// Anything that grows with the state (a listing, a base, a batch of operations) travels as parts,
// each a frame far below the frame limit, and is taken back with its own bound. Pure.
import { ProtocolError } from "../errors.ts";

/** Bytes of one part of a byte stream (a compacted base): 1/8 of the frame limit. */
export const PART_BYTES = 1024 * 1024;

/** Limits of one batch of items. */
export interface ItemPartOptions<T> {
  /** Items per part at most. */
  maxItems: number;
  /** Estimated encoded bytes per part at most (a part holds at least one item). */
  maxBytes: number;
  /** Estimated encoded bytes of one item. */
  sizeOf: (item: T) => number;
  /** Items in the first part at most, so that the first line of a long listing comes at once. */
  firstItems?: number;
}

/** Cuts `items` into batches within the options' count and byte bounds, in order. */
export function* itemParts<T>(items: Iterable<T>, options: ItemPartOptions<T>): Generator<T[]> {
  let batch: T[] = [];
  let bytes = 0;
  let limit = options.firstItems ?? options.maxItems;
  for (const item of items) {
    const size = options.sizeOf(item);
    if (batch.length > 0 && (batch.length >= limit || bytes + size > options.maxBytes)) {
      yield batch;
      batch = [];
      bytes = 0;
      limit = options.maxItems;
    }
    batch.push(item);
    bytes += size;
  }
  if (batch.length > 0) yield batch;
}

/** The slices of `bytes` from `offset` on, each at most `partBytes`, with their offsets. */
export function* byteParts(
  bytes: Uint8Array,
  offset = 0,
  partBytes = PART_BYTES,
): Generator<{ offset: number; bytes: Uint8Array }> {
  for (let at = offset; at < bytes.byteLength; at += partBytes)
    yield { offset: at, bytes: bytes.subarray(at, Math.min(at + partBytes, bytes.byteLength)) };
}

/**
 * Takes back one byte stream of `totalBytes` from parts that arrive in order. The declared total
 * is checked against `maxBytes` before anything is kept, and memory follows the bytes received.
 * A part that does not continue where the last one ended (a resent or a stale one) is skipped,
 * so a stream cut halfway continues from `offset` on the next try.
 */
export class ByteAssembler {
  readonly totalBytes: number;
  #parts: Uint8Array[] = [];
  #offset = 0;

  constructor(totalBytes: number, maxBytes: number) {
    if (!Number.isSafeInteger(totalBytes) || totalBytes < 0 || totalBytes > maxBytes)
      throw new ProtocolError(`Stream of ${totalBytes} bytes exceeds the limit of ${maxBytes}`);
    this.totalBytes = totalBytes;
  }

  /** Bytes received so far, with no gap: where the stream continues. */
  get offset(): number {
    return this.#offset;
  }

  get complete(): boolean {
    return this.#offset === this.totalBytes;
  }

  /** Takes the part at `offset`; false (nothing kept) if it does not continue the stream. */
  add(offset: number, bytes: Uint8Array): boolean {
    if (offset !== this.#offset) return false;
    if (offset + bytes.byteLength > this.totalBytes)
      throw new ProtocolError(`Part at ${offset} of ${bytes.byteLength} bytes runs past ${this.totalBytes}`);
    this.#parts.push(bytes.slice()); // a copy: the decoder's buffer may be reused
    this.#offset += bytes.byteLength;
    return true;
  }

  /** The whole stream once complete, in one buffer. */
  take(): Uint8Array {
    if (!this.complete) throw new Error(`stream taken at ${this.#offset} of ${this.totalBytes} bytes`);
    const whole = new Uint8Array(this.totalBytes);
    let at = 0;
    for (const part of this.#parts) {
      whole.set(part, at);
      at += part.byteLength;
    }
    this.#parts = [];
    return whole;
  }
}
