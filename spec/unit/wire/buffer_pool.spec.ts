// spec/unit/wire/buffer_pool.spec.ts: BufferPool lends, takes back once, and bounds what it keeps;
// FrameDecoder lends large bodies from its pool and nothing else.
import { describe, expect, test } from "bun:test";
import { BufferPool } from "../../../lib/wire/buffer_pool.ts";
import { encodeFrame, FrameDecoder } from "../../../lib/wire/frame.ts";

describe("BufferPool", () => {
  test("lends a view of the asked length and reuses a buffer given back", () => {
    const pool = new BufferPool({ bufferBytes: 1024, maxIdle: 4 });
    const a = pool.take(100);
    expect(a.byteLength).toBe(100);
    expect(a.buffer.byteLength).toBe(1024);
    pool.give(a.subarray(10, 20)); // any view of the buffer gives it back
    expect(pool.idle).toBe(1);
    const b = pool.take(1024);
    expect(b.buffer).toBe(a.buffer);
    expect(pool.idle).toBe(0);
  });

  test("takes a buffer back once: a second give cannot hand one buffer to two owners", () => {
    const pool = new BufferPool({ bufferBytes: 64, maxIdle: 4 });
    const a = pool.take(64);
    pool.give(a);
    pool.give(a);
    expect(pool.idle).toBe(1);
    const b = pool.take(64);
    const c = pool.take(64);
    expect(b.buffer).not.toBe(c.buffer);
  });

  test("ignores buffers it did not lend, and keeps at most maxIdle", () => {
    const pool = new BufferPool({ bufferBytes: 64, maxIdle: 2 });
    pool.give(new Uint8Array(64));
    expect(pool.idle).toBe(0);
    const lent = [pool.take(1), pool.take(2), pool.take(3)];
    for (const view of lent) pool.give(view);
    expect(pool.idle).toBe(2);
  });

  test("refuses a request larger than its buffers", () => {
    const pool = new BufferPool({ bufferBytes: 64, maxIdle: 2 });
    expect(() => pool.take(65)).toThrow(RangeError);
  });
});

describe("FrameDecoder with a pool", () => {
  test("lends bodies of 64 KiB up to the pool's size, allocates the rest", () => {
    const pool = new BufferPool({ bufferBytes: 128 * 1024, maxIdle: 4 });
    const decoder = new FrameDecoder({ pool });
    const big = new Uint8Array(100 * 1024).fill(7);
    const small = new Uint8Array(10).fill(1);
    const huge = new Uint8Array(200 * 1024).fill(9);
    const frames = [encodeFrame(big), encodeFrame(small), encodeFrame(huge)];
    const stream = new Uint8Array(frames.reduce((n, f) => n + f.byteLength, 0));
    let at = 0;
    for (const f of frames) {
      stream.set(f, at);
      at += f.byteLength;
    }
    const bodies: Uint8Array[] = [];
    for (let i = 0; i < stream.byteLength; i += 7001)
      bodies.push(...decoder.push(stream.subarray(i, i + 7001)));
    expect(bodies.map((b) => b.byteLength)).toEqual([big.byteLength, small.byteLength, huge.byteLength]);
    expect(bodies[0]).toEqual(big);
    expect(bodies[2]).toEqual(huge);
    expect(bodies[0]!.buffer.byteLength).toBe(pool.bufferBytes);
    expect(bodies[1]!.buffer.byteLength).not.toBe(pool.bufferBytes);
    expect(bodies[2]!.buffer.byteLength).not.toBe(pool.bufferBytes);
    // Given back, the next large body lands in the same memory, with its own bytes.
    pool.give(bodies[0]!);
    const next = new Uint8Array(90 * 1024).fill(3);
    const [again] = decoder.push(encodeFrame(next));
    expect(again!.buffer).toBe(bodies[0]!.buffer);
    expect(again).toEqual(next);
  });
});
