// spec/unit/pieces/hash.spec.ts: piece arithmetic, SHA-1 vectors and piece checks.
import { describe, expect, test } from "bun:test";
import { PIECE_BYTES, pieceCount, pieceLength } from "../../../lib/pieces/constants.ts";
import { pieceHashAt, SHA1_BYTES, sha1, verifyPiece } from "../../../lib/pieces/hash.ts";
import { fileBytes } from "../../helpers/bytes.ts";

const P = PIECE_BYTES;
const text = (s: string) => new TextEncoder().encode(s);
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

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
  const verify = verifyPiece;
  const bytes = fileBytes(P + 100, 4);
  const pieces = new Uint8Array([...sha1(bytes.subarray(0, P)), ...sha1(bytes.subarray(P))]);

  test("accepts the bytes of each piece", async () => {
    expect(await verify(pieces, 0, bytes.subarray(0, P))).toBe(true);
    expect(await verify(pieces, 1, bytes.subarray(P))).toBe(true);
  });

  test("rejects a piece with one bit flipped", async () => {
    const bad = bytes.slice(P);
    bad[42]! ^= 0x01;
    expect(await verify(pieces, 1, bad)).toBe(false);
  });

  test("rejects a truncated piece or another piece's bytes", async () => {
    expect(await verify(pieces, 1, bytes.subarray(P, P + 99))).toBe(false);
    expect(await verify(pieces, 1, bytes.subarray(0, P))).toBe(false);
  });

  test("rejects an index outside the table", async () => {
    expect(await verify(pieces, 2, bytes.subarray(P))).toBe(false);
    expect(await verify(pieces, -1, bytes.subarray(P))).toBe(false);
    expect(await verify(pieces, 0.5, bytes.subarray(P))).toBe(false);
  });
});
