// lib/pieces/constants.ts: piece size arithmetic: how a file of a given size splits into pieces.
// Pure: no I/O.

/** Bytes per piece (SPEC "Downloads"); only the last piece of a file may be shorter. */
export const PIECE_BYTES = 512 * 1024;

function checkSize(sizeBytes: number): void {
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes < 0) {
    throw new RangeError(`Invalid file size: expected a non-negative integer: got ${sizeBytes}`);
  }
}

/** Number of pieces in a file of `sizeBytes`; an empty file has none. */
export function pieceCount(sizeBytes: number): number {
  checkSize(sizeBytes);
  return Math.ceil(sizeBytes / PIECE_BYTES);
}

/** Length in bytes of piece `pieceIndex` of a file of `sizeBytes`. */
export function pieceLength(sizeBytes: number, pieceIndex: number): number {
  const count = pieceCount(sizeBytes);
  if (!Number.isInteger(pieceIndex) || pieceIndex < 0 || pieceIndex >= count) {
    throw new RangeError(`Invalid piece index: expected an integer in 0..${count - 1}: got ${pieceIndex}`);
  }
  return pieceIndex === count - 1 ? sizeBytes - pieceIndex * PIECE_BYTES : PIECE_BYTES;
}
