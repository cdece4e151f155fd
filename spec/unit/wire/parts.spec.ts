// What grows with the state travels in parts: cut by count and size, taken back in order with its own bound.
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { ProtocolError } from "../../../lib/errors.ts";
import { decodeJsonOrCbor, encodeJsonValue, encodeValue } from "../../../lib/wire/codec.ts";
import { ByteAssembler, byteParts, itemParts } from "../../../lib/wire/parts.ts";

describe("itemParts", () => {
  test("keeps every item in order, within the count and byte bounds, the first part small", () => {
    fc.assert(
      fc.property(
        fc.array(fc.nat({ max: 300 }), { maxLength: 400 }),
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: 1, max: 5 }),
        (sizes, maxItems, firstItems) => {
          const parts = [...itemParts(sizes, { maxItems, maxBytes: 1_000, sizeOf: (s) => s, firstItems })];
          expect(parts.flat()).toEqual(sizes);
          parts.forEach((part, i) => {
            expect(part.length).toBeGreaterThan(0);
            expect(part.length).toBeLessThanOrEqual(i === 0 ? firstItems : maxItems);
            if (part.length > 1) expect(part.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(1_000);
          });
        },
      ),
    );
  });
});

describe("ByteAssembler", () => {
  test("takes back a stream from its parts, skipping resent and out-of-order ones, and continues after a cut", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 5_000 }),
        fc.integer({ min: 1, max: 700 }),
        fc.nat(),
        (bytes, partBytes, cutSeed) => {
          const parts = [...byteParts(bytes, 0, partBytes)];
          const assembler = new ByteAssembler(bytes.byteLength, 10_000);
          const cut = cutSeed % parts.length;
          for (const p of parts.slice(0, cut)) expect(assembler.add(p.offset, p.bytes)).toBe(true);
          // A cut: the sender starts over from zero (all skipped) or resumes at the offset reached.
          for (const p of parts.slice(0, cut)) expect(assembler.add(p.offset, p.bytes)).toBe(cut === 0);
          for (const p of byteParts(bytes, assembler.offset, partBytes))
            expect(assembler.add(p.offset, p.bytes)).toBe(true);
          expect(assembler.complete).toBe(true);
          expect(assembler.take()).toEqual(bytes);
        },
      ),
    );
  });

  test("refuses a declared size over its bound before keeping anything, and a part past the end", () => {
    expect(() => new ByteAssembler(10_001, 10_000)).toThrow(ProtocolError);
    expect(() => new ByteAssembler(-1, 10_000)).toThrow(ProtocolError);
    const a = new ByteAssembler(4, 10);
    expect(() => a.add(0, new Uint8Array(5))).toThrow("runs past 4");
    expect(() => a.take()).toThrow("stream taken at 0 of 4 bytes");
  });
});

describe("decodeJsonOrCbor", () => {
  test("reads a base stored as JSON and one stored as CBOR before, and refuses garbage", () => {
    const base = { stamp: { wall: 1, count: 0, node: 1 }, vv: [[1, 3]], state: { users: [["u", "h"]] } };
    expect(decodeJsonOrCbor(encodeJsonValue(base))).toEqual(base);
    expect(decodeJsonOrCbor(encodeValue(base))).toEqual(base);
    expect(() => decodeJsonOrCbor(new TextEncoder().encode("{not json"))).toThrow(ProtocolError);
    expect(() => decodeJsonOrCbor(Uint8Array.from([0x7b, 0xff, 0xfe]))).toThrow(ProtocolError);
  });
});
