// CBOR encoding of messages: the only importer of cbor-x. Plain maps, no records, so that
// every frame decodes alone (relays and replays depend on it).
// The JS-only entry points: the package root also loads the native cbor-extract addon, whose
// string extraction corrupts memory under Bun (decoding ["ü", "b"] aborts the process).
import { Decoder } from "cbor-x/decode";
import { Encoder } from "cbor-x/encode";
import { messageOf, ProtocolError } from "../errors.ts";
import { encodeFrame, putU32 } from "./frame.ts";

const OPTIONS = { useRecords: false, mapsAsObjects: true, tagUint8Array: false } as const;
const encoder = new Encoder(OPTIONS);
const decoder = new Decoder(OPTIONS);

/** Encodes one value as a complete frame: u32 big-endian length, then CBOR. */
export function encodeMessage(value: unknown): Uint8Array {
  // encode() returns a view of the encoder's reused buffer; encodeFrame copies it out.
  return encodeFrame(encoder.encode(value));
}

/**
 * Encodes one value to send: a complete frame when its body is at most `wholeBytes`, else its
 * size and, when `keepLarge`, the body alone (a copy of its own) to go in parts. One encoding.
 */
export function encodeOutgoing(
  value: unknown,
  wholeBytes: number,
  keepLarge: boolean,
): { frame: Uint8Array } | { bytes: number; body: Uint8Array | undefined } {
  const body = encoder.encode(value); // a view of the encoder's reused buffer: copied out below
  if (body.byteLength <= wholeBytes) return { frame: encodeFrame(body) };
  return { bytes: body.byteLength, body: keepLarge ? new Uint8Array(body) : undefined };
}

/**
 * A lower bound of `value`'s encoded size, cheap to compute (its byte and text strings), counted
 * only until it passes `limit`: a message known to be large need not be encoded to learn so.
 */
export function encodedBytesAtLeast(value: unknown, limit: number): number {
  let bytes = 0;
  const walk = (v: unknown): void => {
    if (bytes > limit) return;
    if (v instanceof Uint8Array) bytes += v.byteLength;
    else if (typeof v === "string")
      bytes += v.length; // UTF-16 units: never more than its UTF-8 bytes
    else if (Array.isArray(v)) for (const item of v) walk(item);
    else if (typeof v === "object" && v !== null)
      for (const [key, item] of Object.entries(v)) {
        bytes += key.length;
        walk(item);
      }
  };
  walk(value);
  return bytes;
}

/** Decodes one frame body to an unchecked value; garbage or trailing bytes are a ProtocolError. */
export function decodeMessage(body: Uint8Array): unknown {
  try {
    return decoder.decode(body);
  } catch (err) {
    throw new ProtocolError(`Cannot decode CBOR frame: ${messageOf(err)}`);
  }
}

/** Encodes one value without a frame header (for storage). */
export function encodeValue(value: unknown): Uint8Array {
  // A copy out of the encoder's reused buffer (a Buffer: its slice() is a view). Uint8Array.from
  // walks it element by element: 2.3 s for a 10 MB base, 0.01 s this way.
  return new Uint8Array(encoder.encode(value));
}

/**
 * Encodes one value of a sequence (a record of a compacted base) as a view of the encoder's
 * reused buffer: valid until the next encode, so the caller copies it out at once.
 */
export function encodeSequenceItem(value: unknown): Uint8Array {
  return encoder.encode(value);
}

/**
 * Decodes concatenated CBOR values (a chunk of base records), calling `each` with each one in
 * order; garbage or a value cut at the end is a ProtocolError. Byte strings are views of `bytes`.
 */
export function decodeSequence(bytes: Uint8Array, each: (value: unknown) => void): void {
  try {
    decoder.decodeMultiple(bytes, (value: unknown) => {
      each(value);
    });
  } catch (err) {
    if (err instanceof ProtocolError) throw err;
    throw new ProtocolError(`Cannot decode CBOR sequence: ${messageOf(err)}`);
  }
}

/**
 * Encodes a plain value as UTF-8 JSON text: how bases were stored before they were chunks
 * (lib/wire/base_stream.ts). Only the conversion of such a data dir reads this form now
 * (decodeJsonOrCbor); tests write it to check that conversion.
 */
export function encodeJsonValue(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value));
}

/** Decodes encodeJsonValue's bytes, or encodeValue's (bases stored before JSON); ProtocolError if neither. */
export function decodeJsonOrCbor(body: Uint8Array): unknown {
  if (body[0] !== 0x7b) return decodeMessage(body); // "{" starts a JSON object, never a CBOR map
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(body));
  } catch (err) {
    throw new ProtocolError(`Cannot decode JSON value: ${(err as Error).message}`);
  }
}

const text = (s: string) => [...new TextEncoder().encode(s)];
/** CBOR head of an unsigned integer (major type 0) or of a text or byte string's length. */
function cborHead(major: number, n: number): number[] {
  const m = major << 5;
  if (n < 24) return [m | n];
  if (n < 256) return [m | 24, n];
  if (n < 65536) return [m | 25, n >> 8, n & 255];
  return [m | 26, (n >>> 24) & 255, (n >> 16) & 255, (n >> 8) & 255, n & 255];
}
const PART_T = [0xa4, 0x61, ...text("t"), 0x66, ...text("p_part"), 0x65, ...text("index")];
const OFFSET_KEY = [0x66, ...text("offset")];
const DATA_KEY = [0x64, ...text("data"), 0x5a]; // then a u32 byte-string length

/** Bytes of a part frame around its data, at most: length prefix and CBOR map (46 now). */
export const PART_FRAME_OVERHEAD_BYTES = 48;

/** The CBOR of a part frame's map up to its data's length: 4 bytes of frame length go before it. */
function partHead(index: number, offset: number): number[] {
  return [...PART_T, ...cborHead(0, index), ...OFFSET_KEY, ...cborHead(0, offset), ...DATA_KEY];
}

/** Writes a part frame's length prefix and `head` at `at` in `into`; returns where its data goes. */
function putPartHead(into: Uint8Array, at: number, head: number[], dataBytes: number): number {
  putU32(into, at, head.length + 4 + dataBytes);
  into.set(head, at + 4);
  putU32(into, at + 4 + head.length, dataBytes);
  return at + 4 + head.length + 4;
}

/**
 * A `{ t: "p_part", index, offset, data }` frame with room for `dataBytes` at `dataOffset`, so
 * the part can be read from disk (or copied from a piece arriving) straight into the frame.
 * Decodes to the same value as encodeMessage's frame (the byte-string length is always 4 bytes).
 * `allocate` may lend the frame's memory (a pool); it must return exactly `bytes` bytes.
 */
export function partFrame(
  index: number,
  offset: number,
  dataBytes: number,
  allocate: (bytes: number) => Uint8Array = (bytes) => new Uint8Array(bytes),
): { frame: Uint8Array; dataOffset: number } {
  const head = partHead(index, offset);
  const frame = allocate(4 + head.length + 4 + dataBytes);
  return { frame, dataOffset: putPartHead(frame, 0, head, dataBytes) };
}

/**
 * The parts of bytes [from, length) of piece `index`, `partBytes` each, as frames one after the
 * other in one buffer: one write to the socket for a whole piece, however many parts it has.
 * Each part's data goes at its `dataOffset`.
 */
export function partFramesFrom(
  index: number,
  from: number,
  length: number,
  partBytes: number,
  allocate: (bytes: number) => Uint8Array = (bytes) => new Uint8Array(bytes),
): { frames: Uint8Array; parts: { offset: number; bytes: number; dataOffset: number }[] } {
  const parts: { offset: number; bytes: number; dataOffset: number }[] = [];
  const heads: number[][] = [];
  let total = 0;
  for (let offset = from; offset < length; offset += partBytes) {
    const bytes = Math.min(partBytes, length - offset);
    const head = partHead(index, offset); // built once: sized here, written below
    parts.push({ offset, bytes, dataOffset: total });
    heads.push(head);
    total += 4 + head.length + 4 + bytes;
  }
  const frames = allocate(total);
  parts.forEach((p, k) => {
    p.dataOffset = putPartHead(frames, p.dataOffset, heads[k] ?? [], p.bytes);
  });
  return { frames, parts };
}
