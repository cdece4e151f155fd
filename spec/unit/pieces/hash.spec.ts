// spec/unit/pieces/hash.spec.ts: piece arithmetic, SHA-1 vectors and PieceHasher chunking invariance.
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { PIECE_BYTES, pieceCount, pieceLength } from "../../../lib/pieces/constants.ts";
import { PieceHasher, pieceHashAt, sha1, SHA1_BYTES, verifyPiece } from "../../../lib/pieces/hash.ts";

const FC_RUNS = Number(process.env.FC_RUNS ?? 1000);
const P = PIECE_BYTES;
const text = (s: string) => new TextEncoder().encode(s);
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

/** Deterministic, non-repeating test bytes (an LCG), so no two pieces hash alike. */
function fileBytes(sizeBytes: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(sizeBytes);
  let state = seed >>> 0;
  for (let i = 0; i < sizeBytes; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    bytes[i] = state >>> 24;
  }
  return bytes;
}

function hashChunks(chunks: Uint8Array[]) {
  const hasher = new PieceHasher();
  for (const chunk of chunks) hasher.push(chunk);
  return hasher.finish();
}

describe("pieceCount", () => {
  test("gives an empty file no pieces", () => {
    expect(pieceCount(0)).toBe(0);
  });

  test("rounds a partial last piece up", () => {
    expect([1, P - 1, P, P + 1, 2 * P].map(pieceCount)).toEqual([1, 1, 1, 2, 2]);
  });

  test("rejects a negative or fractional size", () => {
    expect(() => pieceCount(-1)).toThrow(RangeError);
    expect(() => pieceCount(1.5)).toThrow(RangeError);
  });
});

describe("pieceLength", () => {
  test("gives full pieces except a shorter last one", () => {
    expect(pieceLength(2 * P + 5, 0)).toBe(P);
    expect(pieceLength(2 * P + 5, 1)).toBe(P);
    expect(pieceLength(2 * P + 5, 2)).toBe(5);
    expect(pieceLength(P, 0)).toBe(P);
  });

  test("rejects an index past the last piece", () => {
    expect(() => pieceLength(P, 1)).toThrow(RangeError);
    expect(() => pieceLength(0, 0)).toThrow(RangeError);
    expect(() => pieceLength(P, -1)).toThrow(RangeError);
  });
});

describe("sha1", () => {
  test("matches the FIPS 180 test vectors", () => {
    expect(hex(sha1(text("")))).toBe("da39a3ee5e6b4b0d3255bfef95601890afd80709");
    expect(hex(sha1(text("abc")))).toBe("a9993e364706816aba3e25717850c26c9cd0d89d");
    expect(hex(sha1(text("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")))).toBe(
      "84983e441c3bd26ebaae4aa1f95129e5e54670f1",
    );
  });

  test("returns a plain 20-byte Uint8Array", () => {
    const digest = sha1(text("abc"));
    expect(digest.constructor).toBe(Uint8Array);
    expect(digest.byteLength).toBe(SHA1_BYTES);
  });
});

describe("PieceHasher", () => {
  test("gives an empty file no pieces and the SHA-1 of nothing", () => {
    const digest = new PieceHasher().finish();
    expect(digest.sizeBytes).toBe(0);
    expect(digest.pieces.byteLength).toBe(0);
    expect(hex(digest.sha1)).toBe("da39a3ee5e6b4b0d3255bfef95601890afd80709");
  });

  test("hashes a million 'a's fed in small chunks to the FIPS 180 digest", () => {
    const chunk = new Uint8Array(1000).fill(0x61);
    const digest = hashChunks(Array.from({ length: 1000 }, () => chunk));
    expect(hex(digest.sha1)).toBe("34aa973cd4c4daa4f61eeb2bdbad27316534016f");
    expect(digest.sizeBytes).toBe(1_000_000);
    expect(digest.pieces.byteLength).toBe(2 * SHA1_BYTES);
  });

  test("gives an exact one-piece file one digest equal to the file digest", () => {
    const digest = hashChunks([fileBytes(P, 1)]);
    expect(digest.pieces).toEqual(digest.sha1);
  });

  test("puts one byte past a piece into a second, one-byte piece", () => {
    const bytes = fileBytes(P + 1, 2);
    const digest = hashChunks([bytes]);
    expect(pieceHashAt(digest.pieces, 0)).toEqual(sha1(bytes.subarray(0, P)));
    expect(pieceHashAt(digest.pieces, 1)).toEqual(sha1(bytes.subarray(P)));
  });

  test("gives the same digests for any cut points", () => {
    const boundaries = [0, 1, P - 1, P, P + 1, 2 * P, 2 * P + 1, 3 * P];
    const sizes = fc.oneof(fc.integer({ min: 0, max: 3 * P + 7 }), fc.constantFrom(...boundaries));
    const cases = sizes.chain((size) =>
      fc.record({
        size: fc.constant(size),
        seed: fc.nat(),
        cuts: fc.array(
          fc.oneof(fc.integer({ min: 0, max: size }), fc.constantFrom(...boundaries.filter((b) => b <= size))),
          { maxLength: 12 },
        ),
      }),
    );
    fc.assert(
      fc.property(cases, ({ size, seed, cuts }) => {
        const bytes = fileBytes(size, seed);
        const points = [0, ...cuts.sort((a, b) => a - b), size];
        const digest = hashChunks(points.slice(1).map((end, i) => bytes.subarray(points[i], end)));
        expect(digest.sizeBytes).toBe(size);
        expect(digest.sha1).toEqual(sha1(bytes));
        expect(digest.pieces.byteLength).toBe(pieceCount(size) * SHA1_BYTES);
        for (let i = 0; i < pieceCount(size); i++) {
          expect(pieceHashAt(digest.pieces, i)).toEqual(sha1(bytes.subarray(i * P, i * P + pieceLength(size, i))));
        }
      }),
      { numRuns: FC_RUNS },
    );
  }, 60_000);

  test("keeps no reference to a pushed chunk", () => {
    const bytes = fileBytes(P + 10, 3);
    const expected = hashChunks([bytes.slice()]);
    const hasher = new PieceHasher();
    const chunk = bytes.slice();
    hasher.push(chunk);
    chunk.fill(0);
    expect(hasher.finish()).toEqual(expected);
  });

  test("rejects push or finish after finish", () => {
    const hasher = new PieceHasher();
    hasher.finish();
    expect(() => hasher.push(text("x"))).toThrow();
    expect(() => hasher.finish()).toThrow();
  });
});

describe("pieceHashAt", () => {
  test("returns a view of the 20-byte digest of a piece", () => {
    const table = new Uint8Array(3 * SHA1_BYTES).map((_, i) => i);
    expect(pieceHashAt(table, 1)).toEqual(table.slice(SHA1_BYTES, 2 * SHA1_BYTES));
  });

  test("rejects an index outside the table", () => {
    const table = new Uint8Array(2 * SHA1_BYTES);
    expect(() => pieceHashAt(table, 2)).toThrow(RangeError);
    expect(() => pieceHashAt(table, -1)).toThrow(RangeError);
  });
});

describe("verifyPiece", () => {
  const bytes = fileBytes(P + 100, 4);
  const { pieces } = hashChunks([bytes]);

  test("accepts the bytes of each piece", () => {
    expect(verifyPiece(pieces, 0, bytes.subarray(0, P))).toBe(true);
    expect(verifyPiece(pieces, 1, bytes.subarray(P))).toBe(true);
  });

  test("rejects a piece with one bit flipped", () => {
    const bad = bytes.slice(P);
    bad[42]! ^= 0x01;
    expect(verifyPiece(pieces, 1, bad)).toBe(false);
  });

  test("rejects a truncated piece or another piece's bytes", () => {
    expect(verifyPiece(pieces, 1, bytes.subarray(P, P + 99))).toBe(false);
    expect(verifyPiece(pieces, 1, bytes.subarray(0, P))).toBe(false);
  });

  test("rejects an index outside the table", () => {
    expect(verifyPiece(pieces, 2, bytes.subarray(P))).toBe(false);
    expect(verifyPiece(pieces, -1, bytes.subarray(P))).toBe(false);
    expect(verifyPiece(pieces, 0.5, bytes.subarray(P))).toBe(false);
  });
});
