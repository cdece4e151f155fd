// Shell: hashes a file on disk into its piece and whole-file SHA-1s in one read. The main
// thread reads and feeds the whole-file SHA-1 (sequential by nature) while the pieces hash in
// parallel on WebCrypto's thread pool: 1 GiB in ~0.6 s on 2 cores instead of ~0.93 s.

import type { FileHandle } from "node:fs/promises";
import { open } from "node:fs/promises";
import { PIECE_BYTES } from "../pieces/constants.ts";
import { type FileDigest, SHA1_BYTES } from "../pieces/hash.ts";

/** Bytes per read: whole pieces, so every chunk but the last starts and ends on a piece. */
const READ_BYTES = 8 * PIECE_BYTES;
/** Piece digests in flight before reading waits: each holds a copy of its piece. */
const MAX_PENDING_DIGESTS = 16;

/** Reads `path` once, as a stream; `onProgress(bytesDone)` after each chunk. */
export async function hashFile(path: string, onProgress?: (bytesDone: number) => void): Promise<FileDigest> {
  const file = await open(path, "r");
  try {
    const whole = new Bun.CryptoHasher("sha1");
    const pieces: Promise<ArrayBuffer>[] = [];
    // Two buffers: the kernel fills one while we hash the other. WebCrypto copies what it is
    // given when called, so a buffer is free again as soon as its pieces are handed over.
    let [reading, spare] = [new Uint8Array(READ_BYTES), new Uint8Array(READ_BYTES)];
    let sizeBytes = 0;
    let next = readFull(file, reading);
    for (;;) {
      const bytesRead = await next;
      if (bytesRead === 0) break;
      const chunk = reading.subarray(0, bytesRead);
      [reading, spare] = [spare, reading];
      next = readFull(file, reading);
      for (let at = 0; at < bytesRead; at += PIECE_BYTES) {
        pieces.push(crypto.subtle.digest("SHA-1", chunk.subarray(at, Math.min(at + PIECE_BYTES, bytesRead))));
      }
      whole.update(chunk);
      sizeBytes += bytesRead;
      onProgress?.(sizeBytes);
      if (pieces.length > MAX_PENDING_DIGESTS) await pieces[pieces.length - MAX_PENDING_DIGESTS - 1];
    }
    const table = new Uint8Array(pieces.length * SHA1_BYTES);
    for (const [i, digest] of (await Promise.all(pieces)).entries())
      table.set(new Uint8Array(digest), i * SHA1_BYTES);
    return { sizeBytes, sha1: new Uint8Array(whole.digest()), pieces: table };
  } finally {
    await file.close();
  }
}

/** Fills `buffer` from the file's position; fewer bytes only at the end of the file. */
async function readFull(file: FileHandle, buffer: Uint8Array): Promise<number> {
  let filled = 0;
  while (filled < buffer.byteLength) {
    const { bytesRead } = await file.read(buffer, filled, buffer.byteLength - filled, null);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return filled;
}
