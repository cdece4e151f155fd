// CBOR encoding of messages: the only importer of cbor-x. Plain maps, no records, so that
// every frame decodes alone (relays and replays depend on it).
// The JS-only entry points: the package root also loads the native cbor-extract addon, whose
// string extraction corrupts memory under Bun (decoding ["ü", "b"] aborts the process).
import { Decoder } from "cbor-x/decode";
import { Encoder } from "cbor-x/encode";
import { messageOf, ProtocolError } from "../errors.ts";
import { encodeFrame } from "./frame.ts";

const OPTIONS = { useRecords: false, mapsAsObjects: true, tagUint8Array: false } as const;
const encoder = new Encoder(OPTIONS);
const decoder = new Decoder(OPTIONS);

/** Encodes one value as a complete frame: u32 big-endian length, then CBOR. */
export function encodeMessage(value: unknown): Uint8Array {
  // encode() returns a view of the encoder's reused buffer; encodeFrame copies it out.
  return encodeFrame(encoder.encode(value));
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
  return Uint8Array.from(encoder.encode(value));
}

const PIECE_HEAD = [
  0xa3,
  0x61,
  0x74,
  0x67,
  ...new TextEncoder().encode("p_piece"),
  0x65,
  ...new TextEncoder().encode("index"),
];
const DATA_KEY = [0x64, ...new TextEncoder().encode("data"), 0x5a]; // then a u32 byte-string length

/** Bytes of a piece frame around its data, at most: length prefix and CBOR map (36 now). */
export const PIECE_FRAME_OVERHEAD_BYTES = 40;

/**
 * A `{ t: "p_piece", index, data }` frame with room for `dataBytes` at `dataOffset`, so the
 * piece can be read from disk straight into the frame (no CBOR copy of 512 KiB per piece).
 * Decodes to the same value as encodeMessage's frame (the byte-string length is always 4 bytes).
 * `allocate` may lend the frame's memory (a pool); it must return exactly `bytes` bytes.
 */
export function pieceFrame(
  index: number,
  dataBytes: number,
  allocate: (bytes: number) => Uint8Array = (bytes) => new Uint8Array(bytes),
): { frame: Uint8Array; dataOffset: number } {
  const indexBytes =
    index < 24
      ? [index]
      : index < 256
        ? [0x18, index]
        : index < 65536
          ? [0x19, index >> 8, index & 255]
          : [0x1a, (index >>> 24) & 255, (index >> 16) & 255, (index >> 8) & 255, index & 255];
  const head = [...PIECE_HEAD, ...indexBytes, ...DATA_KEY];
  const dataOffset = 4 + head.length + 4;
  const frame = allocate(dataOffset + dataBytes);
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  view.setUint32(0, frame.byteLength - 4);
  frame.set(head, 4);
  view.setUint32(4 + head.length, dataBytes);
  return { frame, dataOffset };
}
