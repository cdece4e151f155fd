// lib/pieces/hash.ts: SHA-1 digests of pieces and the table of a file's piece digests.
// Pure: no file I/O (lib/client/hash_file.ts reads and hashes whole files).

/** Bytes in one SHA-1 digest. */
export const SHA1_BYTES = 20;

/** What hashing a whole file gives. */
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
