// Shell: hashes a file on disk into its piece and whole-file SHA-1s, reading ahead while hashing.
import { open } from "node:fs/promises";
import { type FileDigest, PieceHasher } from "../pieces/hash.ts";

const READ_BYTES = 4 * 1024 * 1024;

/** Reads `path` once, as a stream; `onProgress(bytesDone)` after each chunk. */
export async function hashFile(path: string, onProgress?: (bytesDone: number) => void): Promise<FileDigest> {
  const file = await open(path, "r");
  try {
    const hasher = new PieceHasher();
    // Two buffers: the kernel fills one while we hash the other.
    const buffers = [new Uint8Array(READ_BYTES), new Uint8Array(READ_BYTES)];
    let done = 0;
    let which = 0;
    let next = file.read(buffers[which]!, 0, READ_BYTES, null);
    for (;;) {
      const { bytesRead } = await next;
      if (bytesRead === 0) break;
      const current = buffers[which]!;
      which ^= 1;
      next = file.read(buffers[which]!, 0, READ_BYTES, null);
      hasher.push(current.subarray(0, bytesRead));
      done += bytesRead;
      onProgress?.(done);
    }
    return hasher.finish();
  } finally {
    await file.close();
  }
}
