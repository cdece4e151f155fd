// spec/prop/codec.spec.ts: CBOR round trip of message-like values; hostile bodies only raise ProtocolError.
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { ProtocolError } from "../../lib/errors.ts";
import { decodeMessage, encodeMessage } from "../../lib/wire/codec.ts";

const FC_RUNS = Number(process.env.FC_RUNS ?? 1000);

const body = (frame: Uint8Array) => frame.subarray(4);

// -0 is excluded: CBOR-wise it is an integer 0 to cbor-x, and messages never carry it.
const numberArb = fc.oneof(
  fc.maxSafeInteger(),
  fc.integer({ min: -1000, max: 1000 }),
  fc.double().map((d) => (Object.is(d, -0) ? 0 : d)),
);
// cbor-x renames a "__proto__" key (prototype-pollution guard), so it cannot round-trip.
const keyArb = fc.string({ unit: "binary", maxLength: 12 }).filter((k) => k !== "__proto__");

const { value: valueArb } = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.string({ unit: "binary", maxLength: 40 }),
    numberArb,
    fc.boolean(),
    fc.constant(null),
    fc.uint8Array({ maxLength: 48 }),
    fc.array(tie("value"), { maxLength: 5 }),
    fc.dictionary(keyArb, tie("value"), { maxKeys: 5, noNullPrototype: true }),
  ),
}));

/** Garbage: random bytes, or a valid body with bytes overwritten, inserted or cut. */
const hostileBodyArb = fc.oneof(
  fc.uint8Array({ maxLength: 128 }),
  fc
    .tuple(
      valueArb,
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
      fc.nat(),
    )
    .map(([value, edits, cutAt]) => {
      const bytes = body(encodeMessage(value)).slice();
      for (const [at, byte] of edits) bytes[at % bytes.byteLength] = byte;
      return bytes.subarray(0, bytes.byteLength - (cutAt % 3 === 0 ? cutAt % bytes.byteLength : 0));
    }),
);

describe("codec (properties)", () => {
  test("decodeMessage(encodeMessage(v)) equals v for message-like values", () => {
    fc.assert(
      fc.property(valueArb, (value) => {
        const frame = encodeMessage(value);
        expect(new DataView(frame.buffer, frame.byteOffset).getUint32(0)).toBe(frame.byteLength - 4);
        expect(decodeMessage(body(frame))).toEqual(value);
      }),
      { numRuns: FC_RUNS },
    );
  }, 30_000);

  test("every frame decodes alone, in any order", () => {
    fc.assert(
      fc.property(
        fc.array(valueArb, { minLength: 1, maxLength: 8 }).chain((values) =>
          fc.tuple(
            fc.constant(values),
            fc.shuffledSubarray(
              values.map((_, i) => i),
              { minLength: values.length },
            ),
          ),
        ),
        ([values, order]) => {
          const frames = values.map(encodeMessage);
          for (const i of order) expect(decodeMessage(body(frames[i]!))).toEqual(values[i]);
        },
      ),
      { numRuns: FC_RUNS },
    );
  }, 30_000);

  test("decodeMessage throws nothing but ProtocolError on hostile bodies", () => {
    fc.assert(
      fc.property(hostileBodyArb, (bytes) => {
        try {
          decodeMessage(bytes);
        } catch (err) {
          if (!(err instanceof ProtocolError)) throw err;
        }
      }),
      { numRuns: FC_RUNS },
    );
  }, 30_000);

  test("decodeMessage rejects a valid body with trailing bytes", () => {
    fc.assert(
      fc.property(valueArb, fc.uint8Array({ minLength: 1, maxLength: 8 }), (value, extra) => {
        const good = body(encodeMessage(value));
        const padded = new Uint8Array(good.byteLength + extra.byteLength);
        padded.set(good);
        padded.set(extra, good.byteLength);
        expect(() => decodeMessage(padded)).toThrow(ProtocolError);
      }),
      { numRuns: FC_RUNS },
    );
  }, 30_000);
});
