// lib/pieces/hash.ts: SHA-1 digests of a file (each 512 KiB piece, the whole file) from chunks cut anywhere.
// Pure: no file I/O; the caller reads the bytes and feeds them in.
import { PIECE_BYTES } from "./constants.ts";

/** Bytes in one SHA-1 digest. */
export const SHA1_BYTES = 20;

/** What a finished `PieceHasher` knows about the file it was fed. */
export interface FileDigest {
  sizeBytes: number;
  /** SHA-1 of the whole file. */
  sha1: Uint8Array;
  /** One SHA-1 per piece, concatenated: `SHA1_BYTES * pieceCount(sizeBytes)` bytes. */
  pieces: Uint8Array;
}

/** SHA-1 of `bytes` as a fresh 20-byte array. */
export function sha1(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(SHA1_BYTES);
  Bun.CryptoHasher.hash("sha1", bytes, out);
  return out;
}

/** Hashes a file fed as chunks of any size: per-piece digests and the whole-file digest in one pass. */
export class PieceHasher {
  #file = new Bun.CryptoHasher("sha1");
  #piece = new Bun.CryptoHasher("sha1");
  #pieceFill = 0; // bytes of the current, unfinished piece already fed to #piece
  #digests = new Uint8Array(SHA1_BYTES * 16);
  #pieceCount = 0;
  #sizeBytes = 0;
  #finished = false;

  /** Feeds the next bytes of the file; the chunk is not kept. */
  push(chunk: Uint8Array): void {
    if (this.#finished) throw new Error("PieceHasher.push called after finish");
    const length = chunk.byteLength;
    if (length === 0) return;
    this.#file.update(chunk);
    this.#sizeBytes += length;
    let offset = 0;
    if (this.#pieceFill > 0) {
      offset = Math.min(PIECE_BYTES - this.#pieceFill, length);
      this.#piece.update(chunk.subarray(0, offset));
      this.#pieceFill += offset;
      if (this.#pieceFill === PIECE_BYTES) this.#endPiece();
    }
    // Whole pieces inside the chunk are hashed straight from a view: no copy, no streaming state.
    while (length - offset >= PIECE_BYTES) {
      Bun.CryptoHasher.hash("sha1", chunk.subarray(offset, offset + PIECE_BYTES), this.#nextSlot());
      offset += PIECE_BYTES;
    }
    if (offset < length) {
      this.#piece.update(chunk.subarray(offset));
      this.#pieceFill += length - offset;
    }
  }

  /** Ends the file and returns its digests; the hasher cannot be fed afterwards. */
  finish(): FileDigest {
    if (this.#finished) throw new Error("PieceHasher.finish called twice");
    if (this.#pieceFill > 0) this.#endPiece(); // the shorter last piece
    this.#finished = true;
    return {
      sizeBytes: this.#sizeBytes,
      sha1: new Uint8Array(this.#file.digest()), // a plain Uint8Array, not a Buffer
      pieces: this.#digests.slice(0, this.#pieceCount * SHA1_BYTES),
    };
  }

  #endPiece(): void {
    // Bun 1.4's instance digest(hashInto) wants 64+ bytes, so copy the 20 over.
    this.#nextSlot().set(this.#piece.digest());
    this.#piece = new Bun.CryptoHasher("sha1");
    this.#pieceFill = 0;
  }

  /** The 20 bytes where the next piece's digest goes, growing the table by doubling. */
  #nextSlot(): Uint8Array {
    const start = this.#pieceCount * SHA1_BYTES;
    if (start + SHA1_BYTES > this.#digests.byteLength) {
      const grown = new Uint8Array(this.#digests.byteLength * 2);
      grown.set(this.#digests);
      this.#digests = grown;
    }
    this.#pieceCount += 1;
    return this.#digests.subarray(start, start + SHA1_BYTES);
  }
}

/** The digest of piece `pieceIndex` in a concatenated digest table (a view, not a copy). */
export function pieceHashAt(pieces: Uint8Array, pieceIndex: number): Uint8Array {
  const count = Math.floor(pieces.byteLength / SHA1_BYTES);
  if (!Number.isInteger(pieceIndex) || pieceIndex < 0 || pieceIndex >= count) {
    throw new RangeError(`Invalid piece index: expected an integer in 0..${count - 1}: got ${pieceIndex}`);
  }
  const start = pieceIndex * SHA1_BYTES;
  return pieces.subarray(start, start + SHA1_BYTES);
}

/** True when `bytes` hash to the digest of piece `pieceIndex`; false too for an index outside the table. */
export function verifyPiece(pieces: Uint8Array, pieceIndex: number, bytes: Uint8Array): boolean {
  if (!Number.isInteger(pieceIndex) || pieceIndex < 0 || (pieceIndex + 1) * SHA1_BYTES > pieces.byteLength) {
    return false; // a peer's index: the caller treats it like any bad piece
  }
  const expected = pieceHashAt(pieces, pieceIndex);
  const actual = sha1(bytes);
  for (let i = 0; i < SHA1_BYTES; i++) if (actual[i] !== expected[i]) return false;
  return true;
}
