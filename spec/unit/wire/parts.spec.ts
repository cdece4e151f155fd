// What grows with the state travels in parts: cut by count and size, taken back in order with its own bound.
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { ProtocolError } from "../../../lib/errors.ts";
import { decodeJsonOrCbor, encodeJsonValue, encodeValue } from "../../../lib/wire/codec.ts";
import {
  ByteAssembler,
  byteParts,
  itemParts,
  MessageAssembler,
  messageParts,
  PART_BYTES,
  parseMessagePart,
} from "../../../lib/wire/parts.ts";

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

describe("MessageAssembler", () => {
  const PART = 100;
  const body = (n: number) => new Uint8Array(n).map((_, i) => (i * 13 + n) & 0xff);

  test("takes back messages just below, at and above the part size, one part at a time", () => {
    const assembler = new MessageAssembler({ share: 1_000 });
    for (const size of [1, PART - 1, PART, PART + 1, 2 * PART, 2 * PART + 1, 1_000]) {
      const parts = [...messageParts("share", body(size), PART)];
      expect(parts.length).toBe(Math.ceil(size / PART));
      parts.slice(0, -1).forEach((p) => {
        expect(p.bytes.byteLength).toBe(PART);
        expect(assembler.add(p)).toBeUndefined();
      });
      expect(assembler.bufferedBytes).toBe(size - (parts.at(-1)?.bytes.byteLength ?? 0));
      expect(assembler.add(parts.at(-1)!)).toEqual(body(size));
      expect(assembler.kind).toBe("share");
      expect(assembler.bufferedBytes).toBe(0);
    }
  });

  test("refuses a declared total over its kind's bound, and a kind it has no bound for, before keeping anything", () => {
    const assembler = new MessageAssembler({ share: 1_000 });
    const first = { kind: "share", total: 1_001, offset: 0, bytes: body(PART) };
    expect(() => assembler.add(first)).toThrow(ProtocolError);
    expect(() => assembler.add(first)).toThrow("share message of 1001 bytes exceeds the limit of 1000");
    expect(assembler.bufferedBytes).toBe(0);
    expect(() => assembler.add({ ...first, kind: "reply", total: 10 })).toThrow(
      "A reply message in parts is not taken here",
    );
    // Inherited names are not bounds.
    expect(() => assembler.add({ ...first, kind: "constructor", total: 10 })).toThrow("not taken here");
    expect(() => new MessageAssembler().add({ ...first, total: 10 })).toThrow("not taken here");
    expect(assembler.bufferedBytes).toBe(0);
  });

  test("refuses parts out of order, a second message begun before the first ended, and a part past the end", () => {
    const parts = [...messageParts("share", body(350), PART)];
    const fresh = () => new MessageAssembler({ share: 1_000, reply: 1_000 });
    expect(() => fresh().add(parts[1]!)).toThrow("before its first part");
    let a = fresh();
    a.add(parts[0]!);
    expect(() => a.add(parts[2]!)).toThrow("at 200, expected at 100");
    a = fresh();
    a.add(parts[0]!);
    expect(() => a.add(parts[0]!)).toThrow("at 0, expected at 100");
    a = fresh();
    a.add(parts[0]!);
    expect(() => a.add({ ...parts[1]!, kind: "reply" })).toThrow(
      "began before the share message under way ended",
    );
    a = fresh();
    a.add(parts[0]!);
    expect(() => a.add({ ...parts[1]!, bytes: body(300) })).toThrow("runs past 350");
  });

  test("any body, any part size: the parts rebuild it exactly, and each one is within the part size", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 3_000 }),
        fc.integer({ min: 1, max: 500 }),
        (b, part) => {
          const assembler = new MessageAssembler({ m: 3_000 });
          let whole: Uint8Array | undefined;
          for (const p of messageParts("m", b, part)) {
            expect(whole).toBeUndefined();
            expect(p.bytes.byteLength).toBeLessThanOrEqual(part);
            whole = assembler.add(p);
          }
          expect(whole).toEqual(b);
        },
      ),
    );
  });

  test("parseMessagePart checks every field of a msg_part frame", () => {
    const frame = { t: "msg_part", kind: "share", total: 10, offset: 0, bytes: body(10) };
    expect(parseMessagePart(frame)).toEqual({ kind: "share", total: 10, offset: 0, bytes: body(10) });
    expect(() => parseMessagePart({ ...frame, total: 0 })).toThrow(ProtocolError);
    expect(() => parseMessagePart({ ...frame, offset: -1 })).toThrow(ProtocolError);
    expect(() => parseMessagePart({ ...frame, bytes: new Uint8Array(0) })).toThrow(ProtocolError);
    expect(() => parseMessagePart({ ...frame, bytes: new Uint8Array(PART_BYTES + 1) })).toThrow(
      ProtocolError,
    );
    expect(() => parseMessagePart({ ...frame, kind: 7 })).toThrow(ProtocolError);
    expect(() => parseMessagePart({ ...frame, kind: "share\nforged log line" })).toThrow(
      "not a message type",
    );
    expect(() => parseMessagePart({ ...frame, kind: "" })).toThrow("not a message type");
  });
});
