// CBOR encoding of messages: the only importer of cbor-x. Plain maps, no records, so that
// every frame decodes alone (relays and replays depend on it).
import { Decoder, Encoder } from "cbor-x";
import { ProtocolError } from "../errors.ts";
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
    throw new ProtocolError(`Cannot decode CBOR frame: ${(err as Error).message}`);
  }
}

/** Encodes one value without a frame header (for storage). */
export function encodeValue(value: unknown): Uint8Array {
  return Uint8Array.from(encoder.encode(value));
}
