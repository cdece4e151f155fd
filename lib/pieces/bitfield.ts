// lib/pieces/bitfield.ts: a fixed-size set of piece indexes packed MSB-first, as BitTorrent's bitfield.
// Pure: no I/O.
import { ProtocolError } from "../errors.ts";

function byteLength(size: number): number {
  return Math.ceil(size / 8);
}

/** Which of `size` pieces are present; bit 0 is the high bit of byte 0. */
export class Bitfield {
  #size: number;
  #bytes: Uint8Array;
  #count = 0;

  /** An empty bitfield over pieces `0..size-1`. */
  constructor(size: number) {
    if (!Number.isSafeInteger(size) || size < 0) {
      throw new RangeError(`Invalid bitfield size: expected a non-negative integer: got ${size}`);
    }
    this.#size = size;
    this.#bytes = new Uint8Array(byteLength(size));
  }

  /** Parses a peer's bitfield for `size` pieces: exact length, spare trailing bits zero. */
  static fromBytes(bytes: Uint8Array, size: number): Bitfield {
    const field = new Bitfield(size);
    const expected = byteLength(size);
    if (bytes.byteLength !== expected) {
      throw new ProtocolError(
        `Cannot parse bitfield: expected ${expected} bytes for ${size} pieces: got ${bytes.byteLength}`,
      );
    }
    const spareBits = expected * 8 - size;
    if (spareBits > 0 && ((bytes[expected - 1] ?? 0) & ((1 << spareBits) - 1)) !== 0) {
      throw new ProtocolError(`Cannot parse bitfield: spare bits after piece ${size - 1} are set`);
    }
    field.#bytes.set(bytes);
    let count = 0;
    for (const byte of field.#bytes) count += popCount(byte);
    field.#count = count;
    return field;
  }

  /** Number of pieces the field covers. */
  get size(): number {
    return this.#size;
  }

  /** True when piece `index` is present. */
  has(index: number): boolean {
    this.#check(index);
    return ((this.#bytes[index >> 3] ?? 0) & (0x80 >> (index & 7))) !== 0;
  }

  /** Marks piece `index` present; false if it already was. */
  set(index: number): boolean {
    if (this.has(index)) return false;
    this.#bytes[index >> 3] = (this.#bytes[index >> 3] ?? 0) | (0x80 >> (index & 7));
    this.#count += 1;
    return true;
  }

  /** Marks piece `index` absent; false if it already was. */
  clear(index: number): boolean {
    if (!this.has(index)) return false;
    this.#bytes[index >> 3] = (this.#bytes[index >> 3] ?? 0) & ~(0x80 >> (index & 7));
    this.#count -= 1;
    return true;
  }

  /** Number of pieces present. */
  count(): number {
    return this.#count;
  }

  /** True when every piece is present (vacuously so for size 0). */
  isComplete(): boolean {
    return this.#count === this.#size;
  }

  /** The packed bytes, a copy safe to send or keep. */
  toBytes(): Uint8Array {
    return this.#bytes.slice();
  }

  /** An independent copy. */
  clone(): Bitfield {
    const copy = new Bitfield(this.#size);
    copy.#bytes.set(this.#bytes);
    copy.#count = this.#count;
    return copy;
  }

  #check(index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.#size) {
      throw new RangeError(`Invalid piece index: expected an integer in 0..${this.#size - 1}: got ${index}`);
    }
  }
}

function popCount(byte: number): number {
  let bits = 0;
  for (let b = byte; b !== 0; b &= b - 1) bits += 1;
  return bits;
}
