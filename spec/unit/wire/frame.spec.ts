// spec/unit/wire/frame.spec.ts: encodeFrame fixtures and FrameDecoder limits, cut points and buffer ownership.
import { describe, expect, test } from "bun:test";
import { FrameTooLargeError, messageOf, ProtocolError } from "../../../lib/errors.ts";
import { encodeFrame, FrameDecoder } from "../../../lib/wire/frame.ts";
import { MAX_FRAME_BYTES } from "../../../lib/wire/limits.ts";

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");
const fromHex = (text: string) => new Uint8Array(Buffer.from(text.replace(/\s+/g, ""), "hex"));
const ascii = (text: string) => new TextEncoder().encode(text);

/** A 4-byte big-endian length prefix. */
function header(length: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, length);
  return bytes;
}

describe("encodeFrame", () => {
  test("prefixes the body with its u32 big-endian length", () => {
    expect(hex(encodeFrame(ascii("abc")))).toBe("00000003616263");
  });

  test("encodes an empty body as four zero bytes", () => {
    expect(hex(encodeFrame(new Uint8Array(0)))).toBe("00000000");
  });

  test("writes multi-byte lengths big-endian", () => {
    expect(hex(encodeFrame(new Uint8Array(0x0102)).subarray(0, 4))).toBe("00000102");
    expect(hex(encodeFrame(new Uint8Array(0x010203)).subarray(0, 4))).toBe("00010203");
  });

  test("copies a body that is a view into a larger buffer", () => {
    const backing = ascii("xxhelloxx");
    const frame = encodeFrame(backing.subarray(2, 7));
    expect(hex(frame)).toBe("0000000568656c6c6f");
    backing.fill(0);
    expect(hex(frame)).toBe("0000000568656c6c6f");
  });
});

describe("FrameDecoder", () => {
  test("decodes hex fixtures: several frames in one chunk", () => {
    const decoder = new FrameDecoder();
    const bodies = decoder.push(fromHex("00000003 616263  00000000  00000001 ff"));
    expect(bodies.map(hex)).toEqual(["616263", "", "ff"]);
    expect(decoder.bufferedBytes).toBe(0);
  });

  test("returns nothing until a frame completes, then exactly that body", () => {
    const decoder = new FrameDecoder();
    expect(decoder.push(fromHex("0000"))).toEqual([]);
    expect(decoder.push(fromHex("0005 6865"))).toEqual([]);
    expect(decoder.push(fromHex("6c"))).toEqual([]);
    expect(decoder.push(fromHex("6c6f 000000"))).toEqual([ascii("hello")]);
    expect(decoder.bufferedBytes).toBe(3); // the next frame's partial header
    expect(decoder.push(fromHex("02 6869")).map(hex)).toEqual(["6869"]);
  });

  test("decodes a zero-length frame alone, between others and with a split header", () => {
    const decoder = new FrameDecoder();
    expect(decoder.push(fromHex("00000000"))).toEqual([new Uint8Array(0)]);
    expect(decoder.push(fromHex("00000001 aa 00000000 00000001 bb")).map(hex)).toEqual(["aa", "", "bb"]);
    expect(decoder.push(fromHex("0000"))).toEqual([]);
    expect(decoder.push(fromHex("0000"))).toEqual([new Uint8Array(0)]);
    expect(decoder.bufferedBytes).toBe(0);
  });

  test("ignores an empty chunk", () => {
    const decoder = new FrameDecoder();
    decoder.push(fromHex("000000"));
    expect(decoder.push(new Uint8Array(0))).toEqual([]);
    expect(decoder.bufferedBytes).toBe(3);
  });

  test("accepts a length prefix exactly at maxFrameBytes", () => {
    const decoder = new FrameDecoder({ maxFrameBytes: 16 });
    expect(decoder.push(header(16))).toEqual([]);
    const body = new Uint8Array(16).map((_, i) => i);
    expect(decoder.push(body)).toEqual([body]);
  });

  test("rejects a length prefix above maxFrameBytes before the body arrives", () => {
    const decoder = new FrameDecoder({ maxFrameBytes: 16 });
    expect(decoder.push(header(17).subarray(0, 3))).toEqual([]); // 3 of 4 header bytes: not yet known
    expect(() => decoder.push(header(17).subarray(3))).toThrow(FrameTooLargeError);
  });

  test("reads a length prefix with its top bit set as the large length it is", () => {
    // Read as a signed 32-bit number, 0x80000000 and above would pass the limit as negative.
    for (const length of [0x80000000, 0xffffffff]) {
      const decoder = new FrameDecoder({ maxFrameBytes: 16 });
      expect(() => decoder.push(header(length))).toThrow(`Frame of ${length} bytes exceeds the limit of 16`);
    }
  });

  test("accepts a length prefix of exactly MAX_FRAME_BYTES by default", () => {
    const decoder = new FrameDecoder();
    expect(decoder.maxFrameBytes).toBe(MAX_FRAME_BYTES);
    expect(decoder.push(header(MAX_FRAME_BYTES))).toEqual([]);
    const body = new Uint8Array(MAX_FRAME_BYTES);
    body[0] = 1;
    body[MAX_FRAME_BYTES - 1] = 2;
    const bodies = decoder.push(body);
    expect(bodies).toHaveLength(1);
    expect(bodies[0]!.byteLength).toBe(MAX_FRAME_BYTES);
    expect([bodies[0]![0], bodies[0]![MAX_FRAME_BYTES - 1]]).toEqual([1, 2]);
  });

  test("rejects MAX_FRAME_BYTES + 1 by default as soon as the 4 header bytes arrive", () => {
    const decoder = new FrameDecoder();
    let error: unknown;
    try {
      decoder.push(header(MAX_FRAME_BYTES + 1));
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(FrameTooLargeError);
    expect(error).toBeInstanceOf(ProtocolError);
    expect(messageOf(error)).toContain(String(MAX_FRAME_BYTES + 1));
  });

  test("rejects a 4 GiB length prefix with a ProtocolError", () => {
    const decoder = new FrameDecoder();
    expect(() => decoder.push(fromHex("ffffffff"))).toThrow(ProtocolError);
  });

  test("rejects an oversized prefix that follows a good frame in the same chunk", () => {
    const decoder = new FrameDecoder({ maxFrameBytes: 4 });
    expect(() => decoder.push(fromHex("00000001 aa 00000005 0102030405"))).toThrow(FrameTooLargeError);
  });

  test("holds only the bytes actually sent: 8 MiB claimed, 10 bytes sent", () => {
    const decoder = new FrameDecoder();
    decoder.push(header(MAX_FRAME_BYTES));
    decoder.push(new Uint8Array(6));
    expect(decoder.bufferedBytes).toBeLessThanOrEqual(10);
    expect(decoder.bufferedBytes).toBe(6);
  });

  test("bufferedBytes counts a partial header and partial body, and drops to 0 on completion", () => {
    const decoder = new FrameDecoder();
    expect(decoder.bufferedBytes).toBe(0);
    decoder.push(fromHex("00"));
    expect(decoder.bufferedBytes).toBe(1);
    decoder.push(fromHex("000005"));
    expect(decoder.bufferedBytes).toBe(0);
    decoder.push(fromHex("0102"));
    expect(decoder.bufferedBytes).toBe(2);
    decoder.push(fromHex("03"));
    expect(decoder.bufferedBytes).toBe(3);
    decoder.push(fromHex("0405"));
    expect(decoder.bufferedBytes).toBe(0);
  });

  test("a caller reusing its chunk buffer after push does not corrupt a body completed in that chunk", () => {
    const decoder = new FrameDecoder();
    const chunk = fromHex("00000003 616263 00000002 6869");
    const bodies = decoder.push(chunk);
    chunk.fill(0xee);
    expect(bodies.map(hex)).toEqual(["616263", "6869"]);
  });

  test("a caller reusing its chunk buffer does not corrupt a body assembled over several pushes", () => {
    const decoder = new FrameDecoder();
    const scratch = new Uint8Array(4); // like a socket read buffer, refilled for every chunk
    const stream = fromHex("00000006 616263646566 00000001 7a");
    const bodies: Uint8Array[] = [];
    for (let at = 0; at < stream.byteLength; at += scratch.byteLength) {
      const piece = stream.subarray(at, at + scratch.byteLength);
      scratch.fill(0);
      scratch.set(piece);
      bodies.push(...decoder.push(scratch.subarray(0, piece.byteLength)));
    }
    scratch.fill(0xee);
    expect(bodies.map(hex)).toEqual(["616263646566", "7a"]);
  });

  test("returned bodies are independent: mutating one leaves the others and later ones intact", () => {
    const decoder = new FrameDecoder();
    const [a, b] = decoder.push(fromHex("00000002 0102 00000002 0304"));
    a!.fill(0);
    expect(hex(b!)).toBe("0304");
    expect(decoder.push(fromHex("00000001 05")).map(hex)).toEqual(["05"]);
  });
});
