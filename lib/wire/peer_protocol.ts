// Peer <-> peer messages. The seeder speaks first with a nonce; the downloader answers with
// the file it wants and its proof; then requests whole pieces, which come in parts. Shapes, not bytes.
import { ProtocolError } from "../errors.ts";
import { readBytes, readEnvelope, readInt, readName, readString } from "./fields.ts";
import { MAX_PIECE_HASH_BYTES } from "./tracker_protocol.ts";

/** Whole 512 KiB pieces per request: few frames, and each is checked by its SHA-1 at once. */
export const MAX_PIECE_INDEX = MAX_PIECE_HASH_BYTES / 20;
const MAX_BITFIELD_BYTES = Math.ceil(MAX_PIECE_INDEX / 8);
/**
 * Bytes of one part of a piece on a link where a piece takes a while: a piece goes out in parts
 * so that its receiver can pass each on while the rest arrives (a piece offered with `p_soon`),
 * rather than a whole piece time later. Where pieces arrive in milliseconds (loopback) a seeder
 * sends each as one part: passing it on early gains nothing there, and one frame costs less.
 */
export const PIECE_PART_BYTES = 64 * 1024;

/**
 * A downloader whose last piece arrived this soon after it went out gets each piece as one
 * part: it gains nothing from passing a piece on early, and eight frames cost more than one
 * (1 GiB from 4 seeders on loopback took 5% longer in parts). From send to `p_got`, pieces took
 * 3 to 19 ms there (10th to 90th percentile), and 161 ms and more in the lab at 100 Mbit/s.
 */
export const WHOLE_PIECE_MS = 50;

export type PeerMessage =
  | { t: "p_challenge"; nonce: Uint8Array }
  | { t: "p_hello"; group: string; name: string; peer: string; proof: Uint8Array }
  | { t: "p_refuse"; reason: string }
  /** `superSeed`: the seeder shows a few pieces at a time (lib/peer/super_seed.ts); see p_decline. */
  | { t: "p_bitfield"; bits: Uint8Array; superSeed?: true }
  | { t: "p_have"; index: number }
  /**
   * The seeder is receiving piece `index`: it may be asked for it, and sends it as it arrives,
   * its last part once its own copy is checked. Its copy may fail or be cut off, and then the
   * piece comes once the seeder has it whole, from the first part again: asked for, it is sent,
   * so the receiver counts it as held and no `p_have` follows on this connection.
   */
  | { t: "p_soon"; index: number }
  /** The seeder has every piece (a super-seeder's last reveal, in one message). */
  | { t: "p_have_all" }
  /**
   * `missing`: pieces the downloader still lacks; a seeder serves those furthest behind first
   * (lib/peer/serve_queue.ts). Absent from a peer that does not say: served as if done.
   * `arriving`: as in `p_arriving`.
   */
  | { t: "p_request"; index: number; missing?: number; arriving?: number }
  /**
   * To a seeder holding requests of ours not yet begun: pieces arriving at us now, from every
   * seeder; a seeder serves those receiving the fewest first (lib/peer/serve_queue.ts).
   */
  | { t: "p_arriving"; count: number }
  | { t: "p_cancel"; index: number }
  /** To the seeder: piece `index` arrived whole (its send slot is free; lib/peer/send_slots.ts). */
  | { t: "p_got"; index: number }
  /** To a super-seeding seeder: none of the pieces it shows us is of use; show others. */
  | { t: "p_decline" }
  /**
   * Bytes of piece `index` from `offset`. A piece comes in order, one piece at a time per
   * connection, each part at most a whole piece; the part that ends at the piece's length
   * completes it, and a part at offset 0 starts the piece over.
   */
  | { t: "p_part"; index: number; offset: number; data: Uint8Array }
  | { t: "p_reject"; index: number }
  /** The seeder's queues are full: it did not take the request for `index`; ask elsewhere. */
  | { t: "p_busy"; index: number }
  /** The seeder that said busy takes requests again. */
  | { t: "p_resume" };

/** Checks a decoded peer message. */
export function parsePeerMessage(value: unknown): PeerMessage {
  const m = readEnvelope(value);
  const index = () => readInt(m, "index", 0, MAX_PIECE_INDEX - 1);
  switch (m.t) {
    case "p_challenge":
      return { t: m.t, nonce: readBytes(m, "nonce", 16, 64) };
    case "p_hello":
      return {
        t: m.t,
        group: readName(m, "group"),
        name: readName(m, "name"),
        peer: readString(m, "peer", 262),
        proof: readBytes(m, "proof", 32, 32),
      };
    case "p_refuse":
      return { t: m.t, reason: readString(m, "reason", 1024) };
    case "p_bitfield":
      // Any other value than `true` (or none) means a seeder that shows everything.
      return m.superSeed === true
        ? { t: m.t, bits: readBytes(m, "bits", 0, MAX_BITFIELD_BYTES), superSeed: true }
        : { t: m.t, bits: readBytes(m, "bits", 0, MAX_BITFIELD_BYTES) };
    case "p_request": {
      const request: Extract<PeerMessage, { t: "p_request" }> = { t: m.t, index: index() };
      if (m.missing !== undefined) request.missing = readInt(m, "missing", 0, MAX_PIECE_INDEX);
      if (m.arriving !== undefined) request.arriving = readInt(m, "arriving", 0, MAX_PIECE_INDEX);
      return request;
    }
    case "p_arriving":
      return { t: m.t, count: readInt(m, "count", 0, MAX_PIECE_INDEX) };
    case "p_have":
    case "p_soon":
    case "p_got":
    case "p_cancel":
    case "p_reject":
    case "p_busy":
      return { t: m.t, index: index() };
    case "p_resume":
    case "p_decline":
    case "p_have_all":
      return { t: m.t };
    case "p_part":
      return {
        t: m.t,
        index: index(),
        offset: readInt(m, "offset", 0, 512 * 1024 - 1),
        data: readBytes(m, "data", 1, 512 * 1024),
      };
    default:
      throw new ProtocolError(`Unknown peer message type ${JSON.stringify(m.t).slice(0, 60)}`);
  }
}
