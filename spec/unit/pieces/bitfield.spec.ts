// spec/unit/pieces/bitfield.spec.ts: Bitfield bit order, counting, wire round trip and hostile bytes.
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { ProtocolError } from "../../../lib/errors.ts";
import { Bitfield } from "../../../lib/pieces/bitfield.ts";

const FC_RUNS = Number(process.env.FC_RUNS ?? 1000);

function fieldOf(bits: boolean[]): Bitfield {
  const field = new Bitfield(bits.length);
  for (const [i, bit] of bits.entries()) if (bit) field.set(i);
  return field;
}

describe("Bitfield", () => {
  test("starts empty", () => {
    const field = new Bitfield(10);
    expect(field.size).toBe(10);
    expect(field.count()).toBe(0);
    expect(field.isComplete()).toBe(false);
    expect(field.toBytes()).toEqual(new Uint8Array(2));
  });

  test("packs piece 0 into the high bit of byte 0", () => {
    const field = new Bitfield(10);
    field.set(0);
    field.set(7);
    field.set(9);
    expect([...field.toBytes()]).toEqual([0x81, 0x40]);
  });

  test("set and clear report whether anything changed and keep the count", () => {
    const field = new Bitfield(3);
    expect(field.set(1)).toBe(true);
    expect(field.set(1)).toBe(false);
    expect(field.count()).toBe(1);
    expect(field.has(1)).toBe(true);
    expect(field.clear(1)).toBe(true);
    expect(field.clear(1)).toBe(false);
    expect(field.count()).toBe(0);
    expect(field.has(1)).toBe(false);
  });

  test("is complete once every piece is set", () => {
    const field = new Bitfield(3);
    for (const i of [0, 1, 2]) field.set(i);
    expect(field.isComplete()).toBe(true);
    expect(new Bitfield(0).isComplete()).toBe(true);
  });

  test("rejects a piece index outside its size", () => {
    const field = new Bitfield(8);
    expect(() => field.has(8)).toThrow(RangeError);
    expect(() => field.set(-1)).toThrow(RangeError);
    expect(() => field.clear(1.5)).toThrow(RangeError);
  });

  test("round-trips any bits through toBytes and fromBytes", () => {
    fc.assert(
      fc.property(fc.array(fc.boolean(), { maxLength: 100 }), (bits) => {
        const field = fieldOf(bits);
        const back = Bitfield.fromBytes(field.toBytes(), bits.length);
        expect(back.toBytes()).toEqual(field.toBytes());
        expect(back.count()).toBe(bits.filter(Boolean).length);
        for (const [i, bit] of bits.entries()) expect(back.has(i)).toBe(bit);
      }),
      { numRuns: FC_RUNS },
    );
  });

  test("fromBytes copies its input", () => {
    const bytes = new Uint8Array([0xff]);
    const field = Bitfield.fromBytes(bytes, 8);
    bytes[0] = 0;
    expect(field.count()).toBe(8);
  });

  test("clone is independent of the original", () => {
    const field = fieldOf([true, false]);
    const copy = field.clone();
    copy.set(1);
    expect(field.has(1)).toBe(false);
    expect(copy.count()).toBe(2);
  });

  test("fromBytes rejects a length that does not match the size", () => {
    expect(() => Bitfield.fromBytes(new Uint8Array(1), 9)).toThrow(ProtocolError);
    expect(() => Bitfield.fromBytes(new Uint8Array(3), 9)).toThrow(ProtocolError);
    expect(() => Bitfield.fromBytes(new Uint8Array(1), 0)).toThrow(ProtocolError);
    expect(Bitfield.fromBytes(new Uint8Array(0), 0).size).toBe(0);
  });

  test("fromBytes rejects any set spare bit after the last piece", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 64 }), fc.nat(), (size, pick) => {
        const spareBits = Math.ceil(size / 8) * 8 - size;
        fc.pre(spareBits > 0);
        const bytes = new Uint8Array(Math.ceil(size / 8));
        bytes[bytes.length - 1] = 1 << (pick % spareBits);
        expect(() => Bitfield.fromBytes(bytes, size)).toThrow(ProtocolError);
      }),
      { numRuns: FC_RUNS },
    );
  });
});
