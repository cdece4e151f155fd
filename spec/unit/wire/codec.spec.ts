// spec/unit/wire/codec.spec.ts: CBOR round trips, frame independence and every decode failure as ProtocolError.
import { describe, expect, test } from "bun:test";
import { isNativeAccelerationEnabled } from "cbor-x/decode";
import fc from "fast-check";
import { ProtocolError } from "../../../lib/errors.ts";
import {
  decodeMessage,
  encodedBytesAtLeast,
  encodeMessage,
  encodeValue,
  PART_FRAME_OVERHEAD_BYTES,
  partFrame,
  partFramesFrom,
} from "../../../lib/wire/codec.ts";
import { FrameDecoder } from "../../../lib/wire/frame.ts";

const fromHex = (text: string) => new Uint8Array(Buffer.from(text.replace(/\s+/g, ""), "hex"));

/** The CBOR body of a frame made by encodeMessage, after checking its length prefix. */
function bodyOf(frame: Uint8Array): Uint8Array {
  expect(new DataView(frame.buffer, frame.byteOffset).getUint32(0)).toBe(frame.byteLength - 4);
  return frame.subarray(4);
}

const roundTrip = (value: unknown) => decodeMessage(bodyOf(encodeMessage(value)));

function protocolErrorOf(body: Uint8Array): ProtocolError {
  try {
    decodeMessage(body);
  } catch (err) {
    if (!(err instanceof ProtocolError)) throw err;
    return err;
  }
  throw new Error("expected a ProtocolError, but the body decoded");
}

describe("encodeMessage / decodeMessage", () => {
  test("round-trips strings, including empty and non-ASCII", () => {
    for (const s of ["", "a", "hello world", "ü€😀", "x".repeat(70_000)]) expect(roundTrip(s)).toBe(s);
  });

  test("round-trips integers across every CBOR width and sign", () => {
    const ints = [
      0,
      1,
      23,
      24,
      255,
      256,
      65_535,
      65_536,
      2 ** 32 - 1,
      2 ** 32,
      2 ** 40,
      Number.MAX_SAFE_INTEGER,
    ];
    for (const n of [...ints, ...ints.map((i) => -i - 1)]) expect(roundTrip(n)).toBe(n);
  });

  test("round-trips booleans, null and floats", () => {
    for (const v of [true, false, null, 1.5, -0.1, 1e300, Number.MIN_VALUE]) expect(roundTrip(v)).toBe(v);
  });

  test("round-trips nested maps and arrays", () => {
    const value = {
      type: "share",
      group: "g1",
      files: [{ name: "a.bin", size: 1_048_576, pieces: [[1, 2], []] }],
      meta: { deep: { deeper: { n: -7, ok: true, none: null } } },
      empty: {},
      list: [],
    };
    expect(roundTrip(value)).toEqual(value);
  });

  test("returns Uint8Array byte strings as equal bytes, also nested and empty", () => {
    const hash = new Uint8Array(20).map((_, i) => i * 13);
    // The shape just encoded; the expectations below check it came back so.
    const decoded = roundTrip({ hash, pieces: [hash.subarray(0, 3), new Uint8Array(0)] }) as {
      hash: Uint8Array;
      pieces: Uint8Array[];
    };
    expect(decoded.hash).toBeInstanceOf(Uint8Array);
    expect(Array.from(decoded.hash)).toEqual(Array.from(hash));
    expect(Array.from(decoded.pieces[0]!)).toEqual([0, 13, 26]);
    expect(decoded.pieces[1]!.byteLength).toBe(0);
  });

  test("encodes a byte string as CBOR major type 2, not a tagged typed array", () => {
    expect(Buffer.from(bodyOf(encodeMessage(new Uint8Array([1, 2])))).toString("hex")).toBe("420102");
  });

  test("encodes objects as plain CBOR maps, never record tags", () => {
    for (let i = 0; i < 5; i++) {
      const body = bodyOf(encodeMessage({ type: "ping", n: i }));
      expect(body[0]! >> 5).toBe(5); // major type 5: map
    }
  });

  test("decodes hex fixtures", () => {
    expect(decodeMessage(fromHex("a2 6474797065 6470696e67 616e 01"))).toEqual({ type: "ping", n: 1 });
    expect(decodeMessage(fromHex("83 f5 f6 43 010203"))).toEqual([true, null, new Uint8Array([1, 2, 3])]);
  });

  test("returns a frame that later encodes do not overwrite", () => {
    const first = encodeMessage({ type: "first", data: new Uint8Array(64).fill(1) });
    const copy = first.slice();
    encodeMessage({ type: "second", data: new Uint8Array(64).fill(2) });
    expect(first).toEqual(copy);
  });

  test("decodes each frame alone: in any order, and the same before and after others", () => {
    const values = Array.from({ length: 20 }, (_, i) => ({
      type: "op",
      seq: i,
      who: `u${i % 3}`,
      tags: ["a", i],
    }));
    const frames = values.map(encodeMessage);
    for (let i = frames.length - 1; i >= 0; i--)
      expect(decodeMessage(bodyOf(frames[i]!))).toEqual(values[i]!);
  });

  test("does not carry a record definition from one frame into the next", () => {
    // frame 1: cbor-x inline record definition (tag 0xdfff) of id 0xe000 with keys [type, n]
    const defining = fromHex("d9dfff 84 19e000 82 6474797065 616e 6178 01");
    // frame 2: a bare reference to record 0xe000, valid only if frame 1's definition were remembered
    const referencing = fromHex("d9e000 82 6178 02");
    const alone = (() => {
      try {
        return decodeMessage(referencing);
      } catch (err) {
        return err instanceof ProtocolError ? "ProtocolError" : err;
      }
    })();
    expect(decodeMessage(defining)).toEqual({ type: "x", n: 1 });
    const after = (() => {
      try {
        return decodeMessage(referencing);
      } catch (err) {
        return err instanceof ProtocolError ? "ProtocolError" : err;
      }
    })();
    expect(after).toEqual(alone); // an unknown tag: cbor-x returns a Tag, which parseMessage must reject
    expect(after).not.toEqual({ type: "x", n: 2 });
  });

  test("rejects trailing bytes after one complete value", () => {
    expect(protocolErrorOf(fromHex("01 02")).message).toMatch(/^Cannot decode CBOR frame: /);
    const body = bodyOf(encodeMessage({ a: 1 }));
    expect(decodeMessage(body)).toEqual({ a: 1 });
    const padded = new Uint8Array(body.byteLength + 1); // one zero byte (CBOR 0) after the map
    padded.set(body);
    protocolErrorOf(padded);
  });

  test("rejects an empty body", () => {
    protocolErrorOf(new Uint8Array(0));
  });

  test("rejects every truncation of a valid body", () => {
    const body = bodyOf(
      encodeMessage({ type: "share", name: "f", hashes: [new Uint8Array(20)], size: 2 ** 40 }),
    );
    for (let n = 0; n < body.byteLength; n++) protocolErrorOf(body.slice(0, n));
  });

  test("rejects lengths that claim more than the body holds", () => {
    protocolErrorOf(fromHex("5a ffffffff 00")); // byte string of 4 GiB
    protocolErrorOf(fromHex("9b ffffffffffffffff")); // array of 2^64-1 items
    protocolErrorOf(fromHex("bb 00000000ffffffff 01 02")); // map of 2^32-1 pairs
    protocolErrorOf(fromHex("7a 00010000 61")); // text of 64 KiB
  });

  test("rejects deeply nested arrays without crashing", () => {
    const body = new Uint8Array(200_000).fill(0x81); // [[[[…
    protocolErrorOf(body);
  });

  test("decodes a uint64 beyond 2^53 to a bigint, so parsers must check typeof", () => {
    const decoded = decodeMessage(fromHex("1b 0020000000000001")); // 2^53 + 1
    expect(typeof decoded).toBe("bigint");
    expect(decoded).toBe(2n ** 53n + 1n);
    expect(typeof decodeMessage(fromHex("3b 0020000000000001"))).toBe("bigint"); // -(2^53 + 2)
  });

  test("decodes even a small uint64-encoded value to a bigint", () => {
    // Non-canonical but valid CBOR: a range check alone on `number` would miss it.
    expect(decodeMessage(fromHex("1b 0000000000000005"))).toBe(5n);
  });

  test("decodes a __proto__ key without touching any prototype", () => {
    const decoded = decodeMessage(fromHex("a1 695f5f70726f746f5f5f a1 6178 01"));
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype);
    expect(Reflect.get(Object(decoded), "x")).toBeUndefined();
    expect(Reflect.get({}, "x")).toBeUndefined();
  });
});

describe("codec without the native cbor-extract addon", () => {
  // Regression: through the "cbor-x" root, cbor-x loads cbor-extract, whose multi-string
  // extraction corrupts memory under Bun: ["ü", "b"] threw "Unexpected end of buffer" or aborted.
  test("decodes non-ASCII strings next to other strings", () => {
    expect(decodeMessage(fromHex("82 62 c3bc 61 62"))).toEqual(["ü", "b"]);
    expect(decodeMessage(fromHex("a2 65 61f09f9880 01 61 62 02"))).toEqual({ "a😀": 1, b: 2 });
    const share = { type: "share", group: "grüppe", name: "café 😀.txt", owner: "zoë", hashes: ["ä", "ö"] };
    for (let i = 0; i < 3; i++) expect(roundTrip(share)).toEqual(share);
  });

  test("keeps cbor-x on its JS string decoder", () => {
    expect(isNativeAccelerationEnabled).toBe(false);
  });

  test("a fresh process decodes non-ASCII strings without crashing", async () => {
    const codecPath = new URL("../../../lib/wire/codec.ts", import.meta.url).pathname;
    const script = `
      const { decodeMessage } = await import(${JSON.stringify(codecPath)});
      const body = new Uint8Array([0x82, 0x62, 0xc3, 0xbc, 0x61, 0x62]);
      for (let i = 0; i < 3; i++) console.log(JSON.stringify(decodeMessage(body)));`;
    const child = Bun.spawn([process.execPath, "-e", script], { stdout: "pipe", stderr: "pipe" });
    const [stdout, stderr, code] = await Promise.all([
      new Response(child.stdout).text(),
      new Response(child.stderr).text(),
      child.exited,
    ]);
    expect({ code, stderr: stderr.slice(0, 300) }).toEqual({ code: 0, stderr: "" });
    expect(stdout.trim().split("\n")).toEqual(Array(3).fill(JSON.stringify(["ü", "b"])));
  }, 10_000);
});

describe("encodedBytesAtLeast", () => {
  test("never exceeds the encoded size of any value, and stops counting past its limit", () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.uint8Array({ maxLength: 300 }), (json, bytes) => {
        for (const value of [json, { t: "x", bytes, json }, [bytes, json]])
          expect(encodedBytesAtLeast(value, Number.POSITIVE_INFINITY)).toBeLessThanOrEqual(
            encodeValue(value).byteLength,
          );
      }),
    );
    const pieces = new Uint8Array(1_000);
    expect(encodedBytesAtLeast({ t: "reply", data: { pieces } }, 10_000)).toBe(1_000 + 1 + 5 + 4 + 6);
    // Past the limit it stops walking: a long list is not walked to its end.
    const many = Array.from({ length: 10_000 }, () => new Uint8Array(100));
    expect(encodedBytesAtLeast(many, 500)).toBe(600);
  });

  test("a part frame built around its data decodes to the p_part message, within its overhead", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        fc.uint8Array({ minLength: 1, maxLength: 300 }),
        (index, offset, data) => {
          const { frame, dataOffset } = partFrame(index, offset, data.byteLength);
          frame.set(data, dataOffset);
          expect(frame.byteLength - data.byteLength).toBeLessThanOrEqual(PART_FRAME_OVERHEAD_BYTES);
          expect(new DataView(frame.buffer).getUint32(0)).toBe(frame.byteLength - 4);
          const value = decodeMessage(frame.subarray(4)) as Record<string, unknown>;
          expect([value.t, value.index, value.offset]).toEqual(["p_part", index, offset]);
          expect(new Uint8Array(value.data as Uint8Array)).toEqual(data);
        },
      ),
    );
  });

  test("the parts of a piece laid out in one buffer are the frames of its parts, in order", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5_000 }),
        fc.integer({ min: 1, max: 1_500 }),
        fc.nat({ max: 4_999 }),
        (length, partBytes, fromAt) => {
          const from = fromAt % length;
          const piece = Uint8Array.from({ length }, (_, i) => i % 251);
          const { frames, parts } = partFramesFrom(7, from, length, partBytes);
          for (const p of parts) frames.set(piece.subarray(p.offset, p.offset + p.bytes), p.dataOffset);
          const decoded = new FrameDecoder()
            .push(frames)
            .map((body) => decodeMessage(body) as Record<string, unknown>);
          expect(decoded.map((m) => [m.t, m.index, m.offset])).toEqual(
            parts.map((p) => ["p_part", 7, p.offset]),
          );
          expect(parts[0]?.offset).toBe(from);
          expect(Buffer.concat(decoded.map((m) => m.data as Uint8Array))).toEqual(
            Buffer.from(piece.subarray(from)),
          );
          expect(parts.every((p) => p.bytes <= partBytes)).toBe(true);
        },
      ),
    );
  });
});
