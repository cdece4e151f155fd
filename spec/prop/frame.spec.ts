// spec/prop/frame.spec.ts: framing yields the same bodies at any cut points; hostile bytes only raise ProtocolError.
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { ProtocolError } from "../../lib/errors.ts";
import { encodeFrame, FrameDecoder } from "../../lib/wire/frame.ts";

const FC_RUNS = Number(process.env.FC_RUNS ?? 1000);

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.byteLength;
  }
  return out;
}

/** Cuts `stream` at the given offsets (any order, duplicates allowed: empty chunks). */
function cut(stream: Uint8Array, offsets: number[]): Uint8Array[] {
  const points = offsets.map((o) => o % (stream.byteLength + 1)).sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let from = 0;
  for (const to of [...points, stream.byteLength]) {
    chunks.push(stream.subarray(from, to));
    from = to;
  }
  return chunks;
}

/** Pushes each chunk through one reused scratch buffer, as a socket reader may, and collects the bodies. */
function decodeAll(chunks: Uint8Array[], maxFrameBytes: number): Uint8Array[] {
  const decoder = new FrameDecoder({ maxFrameBytes });
  const scratch = new Uint8Array(Math.max(1, ...chunks.map((c) => c.byteLength)));
  const bodies: Uint8Array[] = [];
  for (const chunk of chunks) {
    scratch.set(chunk);
    bodies.push(...decoder.push(scratch.subarray(0, chunk.byteLength)));
    scratch.fill(0xa5); // the caller reuses its buffer at once
  }
  expect(decoder.bufferedBytes).toBe(0);
  return bodies;
}

const bodiesArb = fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 12 });

describe("FrameDecoder (properties)", () => {
  test("yields exactly the encoded bodies whatever the cut points", () => {
    fc.assert(
      fc.property(bodiesArb, fc.array(fc.nat(), { maxLength: 30 }), (bodies, offsets) => {
        const stream = concat(bodies.map(encodeFrame));
        const max = Math.max(0, ...bodies.map((b) => b.byteLength));
        const ones = Array.from({ length: stream.byteLength }, (_, i) => stream.subarray(i, i + 1));
        expect(decodeAll(cut(stream, offsets), max)).toEqual(bodies);
        expect(decodeAll(ones, max)).toEqual(bodies);
        expect(decodeAll([stream], max)).toEqual(bodies);
      }),
      { numRuns: FC_RUNS },
    );
  }, 30_000);

  test("random bytes pushed in random chunks raise nothing but ProtocolError subclasses", () => {
    // valid frames of up to 70 bytes, with random bytes overwritten, cut anywhere: frames complete between the garbage
    const corruptedArb = fc
      .tuple(
        bodiesArb.map((bodies) => concat(bodies.map(encodeFrame))),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
        fc.array(fc.nat(), { maxLength: 10 }),
      )
      .map(([stream, edits, offsets]) => {
        for (const [at, byte] of edits) if (stream.byteLength > 0) stream[at % stream.byteLength] = byte;
        return cut(stream, offsets);
      });
    const chunksArb = fc.oneof(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 16 }), corruptedArb);
    fc.assert(
      fc.property(chunksArb, fc.integer({ min: 0, max: 64 }), (chunks, maxFrameBytes) => {
        const decoder = new FrameDecoder({ maxFrameBytes });
        try {
          for (const chunk of chunks) {
            for (const body of decoder.push(chunk))
              expect(body.byteLength).toBeLessThanOrEqual(maxFrameBytes);
            expect(decoder.bufferedBytes).toBeLessThanOrEqual(maxFrameBytes + 3);
          }
        } catch (err) {
          if (!(err instanceof ProtocolError)) throw err;
        }
      }),
      { numRuns: FC_RUNS },
    );
  }, 30_000);
});
