// spec/unit/client/hash_file.spec.ts: hashFile against SHA-1 vectors and a piece-by-piece
// reference, at piece and read-chunk boundaries.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hashFile } from "../../../lib/client/hash_file.ts";
import { PIECE_BYTES, pieceCount, pieceLength } from "../../../lib/pieces/constants.ts";
import { pieceHashAt, SHA1_BYTES, sha1 } from "../../../lib/pieces/hash.ts";
import { fileBytes } from "../../helpers/bytes.ts";

const P = PIECE_BYTES;
const dir = mkdtempSync(join(tmpdir(), "p2p-hash-file-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

function onDisk(name: string, bytes: Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

describe("hashFile", () => {
  test("gives an empty file no pieces and the SHA-1 of nothing", async () => {
    const digest = await hashFile(onDisk("empty", new Uint8Array(0)));
    expect({ size: digest.sizeBytes, pieces: digest.pieces.byteLength, sha1: hex(digest.sha1) }).toEqual({
      size: 0,
      pieces: 0,
      sha1: "da39a3ee5e6b4b0d3255bfef95601890afd80709",
    });
  });

  test("hashes a million 'a's to the FIPS 180 digest, in two pieces", async () => {
    const digest = await hashFile(onDisk("million-a", new Uint8Array(1_000_000).fill(0x61)));
    expect(hex(digest.sha1)).toBe("34aa973cd4c4daa4f61eeb2bdbad27316534016f");
    expect(digest.pieces.byteLength).toBe(2 * SHA1_BYTES);
  });

  // 8 pieces make one read: sizes around both boundaries, and several reads with a short tail.
  test.each([1, P - 1, P, P + 1, 8 * P - 1, 8 * P, 8 * P + 1, 17 * P + 5])(
    "matches a piece-by-piece reference for %d bytes",
    async (size) => {
      const bytes = fileBytes(size, size);
      const progress: number[] = [];
      const digest = await hashFile(onDisk(`f${size}`, bytes), (done) => progress.push(done));
      expect(digest.sizeBytes).toBe(size);
      expect(digest.sha1).toEqual(sha1(bytes));
      expect(digest.pieces.byteLength).toBe(pieceCount(size) * SHA1_BYTES);
      for (let i = 0; i < pieceCount(size); i++) {
        expect({ i, digest: pieceHashAt(digest.pieces, i) }).toEqual({
          i,
          digest: sha1(bytes.subarray(i * P, i * P + pieceLength(size, i))),
        });
      }
      expect(progress.at(-1)).toBe(size);
      expect(progress.every((done, i) => i === 0 || done > progress[i - 1]!)).toBe(true);
    },
  );

  test("rejects a missing file", async () => {
    await expect(hashFile(join(dir, "missing"))).rejects.toThrow(/ENOENT|no such file/i);
  });
});
