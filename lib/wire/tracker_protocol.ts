// Client <-> tracker messages: requests a client sends and the replies it gets. Shapes, not bytes.
import { ProtocolError } from "../errors.ts";
import {
  type Fields,
  optional,
  readArray,
  readBytes,
  readEnvelope,
  readInt,
  readMap,
  readName,
  readString,
} from "./fields.ts";
import { MAX_PASSWORD_BYTES } from "./limits.ts";

/**
 * Pieces of the largest file that can be shared: 2^21 pieces of 512 KiB, 1 TiB. Every tracker
 * holds every shared file's piece hashes in memory (and twice that, as hex, in its compacted
 * base), so one file may take at most 40 MiB of it; see README "Limits that remain".
 */
export const MAX_PIECES = 2 ** 21;
/** Largest piece-hash list: 20 bytes per piece of a 1 TiB file (40 MiB: it travels in parts). */
export const MAX_PIECE_HASH_BYTES = 20 * MAX_PIECES;
/** A share request's fields other than its piece hashes (names, sizes, ids), generously. */
const SHARE_FIELDS_BYTES = 4096;
/** Peers and their keys in one file_info reply, at most. */
const FILE_INFO_PEERS_BYTES = 8 * 1024 * 1024;

/**
 * What a tracker takes in parts from a logged-in client: a share with its piece hashes (nothing
 * before login: a stranger's frames stay within MAX_UNAUTHENTICATED_FRAME_BYTES).
 */
export const CLIENT_MESSAGE_BOUNDS = { share: MAX_PIECE_HASH_BYTES + SHARE_FIELDS_BYTES } as const;
/** What a client takes in parts from a tracker: a file_info reply with its piece hashes and peers. */
export const TRACKER_MESSAGE_BOUNDS = {
  reply: MAX_PIECE_HASH_BYTES + SHARE_FIELDS_BYTES + FILE_INFO_PEERS_BYTES,
} as const;
/** A session token: 256 random bits the client makes at login. */
const TOKEN_BYTES = 32;
/** A request id: client id and counter, unique per request, the same on a retry. */
const MAX_RID_BYTES = 64;
/** A peer address, `host:port`, IPv6 hosts included. */
export const MAX_PEER_BYTES = 262;

/** Every request a client can make; `id` pairs it with its reply on this connection. */
export type Request = { id: number; rid?: string } & (
  | { t: "create_user"; user: string; pass: string }
  | { t: "login"; user: string; pass: string; peer: string; token: Uint8Array }
  | { t: "resume"; token: Uint8Array }
  | { t: "heartbeat" }
  | { t: "logout" }
  | { t: "whoami" }
  | { t: "create_group" | "join_group" | "leave_group" | "list_requests"; group: string }
  | { t: "list_files"; group: string; skip: number }
  | { t: "accept_request" | "reject_request"; group: string; user: string }
  | { t: "list_groups"; skip: number }
  | { t: "share"; group: string; name: string; sizeBytes: number; sha1: Uint8Array; pieces: Uint8Array }
  | { t: "unshare" | "file_info"; group: string; name: string }
  | {
      t: "check_peer";
      group: string;
      peer: string;
      nonce: Uint8Array;
      /** The TLS channel binding of the seeder's connection with that peer. */
      binding: Uint8Array;
      /** The id of the key that peer presented on it. */
      key: string;
      proof: Uint8Array;
    }
);

export type RequestType = Request["t"];

/** Checks a decoded client request field by field. */
export function parseRequest(value: unknown): Request {
  const m = readEnvelope(value);
  const id = readInt(m, "id", 0, 2 ** 32 - 1);
  const rid = optional(m, "rid", (f, k) => readString(f, k, MAX_RID_BYTES));
  const base = rid === undefined ? { id } : { id, rid };
  switch (m.t) {
    case "create_user":
      return { ...base, t: m.t, user: readName(m, "user"), pass: readPassword(m) };
    case "login":
      return {
        ...base,
        t: m.t,
        user: readName(m, "user"),
        pass: readPassword(m),
        peer: readString(m, "peer", MAX_PEER_BYTES),
        token: readBytes(m, "token", TOKEN_BYTES, TOKEN_BYTES),
      };
    case "resume":
      return { ...base, t: m.t, token: readBytes(m, "token", TOKEN_BYTES, TOKEN_BYTES) };
    case "heartbeat":
    case "logout":
    case "whoami":
      return { ...base, t: m.t };
    case "list_groups":
      return { ...base, t: m.t, skip: readSkip(m) };
    case "create_group":
    case "join_group":
    case "leave_group":
    case "list_requests":
      return { ...base, t: m.t, group: readName(m, "group") };
    case "list_files":
      return { ...base, t: m.t, group: readName(m, "group"), skip: readSkip(m) };
    case "accept_request":
    case "reject_request":
      return { ...base, t: m.t, group: readName(m, "group"), user: readName(m, "user") };
    case "share": {
      const sizeBytes = readInt(m, "sizeBytes", 0, Number.MAX_SAFE_INTEGER);
      const pieces = readBytes(m, "pieces", 0, MAX_PIECE_HASH_BYTES);
      if (pieces.byteLength % 20 !== 0)
        throw new ProtocolError(`Cannot parse "pieces": not a multiple of 20 bytes`);
      return {
        ...base,
        t: m.t,
        group: readName(m, "group"),
        name: readName(m, "name"),
        sizeBytes,
        sha1: readBytes(m, "sha1", 20, 20),
        pieces,
      };
    }
    case "unshare":
    case "file_info":
      return { ...base, t: m.t, group: readName(m, "group"), name: readName(m, "name") };
    case "check_peer":
      return {
        ...base,
        t: m.t,
        group: readName(m, "group"),
        peer: readString(m, "peer", MAX_PEER_BYTES),
        nonce: readBytes(m, "nonce", 16, 64),
        binding: readBytes(m, "binding", 32, 32),
        key: readString(m, "key", 64),
        proof: readBytes(m, "proof", 32, 32),
      };
    default:
      throw new ProtocolError(`Unknown request type ${JSON.stringify(m.t).slice(0, 60)}`);
  }
}

/** Entries a resent listing request already got (after a failover mid-listing). */
function readSkip(m: Fields): number {
  return optional(m, "skip", (f, k) => readInt(f, k, 0, Number.MAX_SAFE_INTEGER)) ?? 0;
}

function readPassword(m: Fields): string {
  const pass = readString(m, "pass", MAX_PASSWORD_BYTES);
  if (pass.length === 0) throw new ProtocolError(`Cannot parse "pass": must not be empty`);
  return pass;
}

/** A tracker's answer to one request. */
export type Reply = { id: number } & ({ ok: true; data: Fields } | { ok: false; reason: string });

/** The reply frame for a request. */
export function replyMessage(reply: Reply): Fields {
  return reply.ok
    ? { t: "reply", id: reply.id, ok: true, data: reply.data }
    : { t: "reply", id: reply.id, ok: false, reason: reply.reason };
}

/**
 * Entries of a listing per part: a listing is any number of `part` frames, then its reply with
 * the count sent. LISTING_FIRST_ITEMS makes the first line quick whatever the listing's length.
 */
export const LISTING_PART_ITEMS = 1_000;
export const LISTING_FIRST_ITEMS = 50;
/** Bytes of one part at most (entries hold up to three 255-byte names): far below the frame limit. */
export const LISTING_PART_BYTES = 512 * 1024;

/** A slice of a listing's entries, ahead of the listing's reply. */
export interface ListingPart {
  id: number;
  items: Fields[];
}

/** The frame of a listing part (entries as the tracker builds them: GroupSummary, FileSummary). */
export function partMessage(part: { id: number; items: readonly object[] }): Fields {
  return { t: "part", id: part.id, items: part.items };
}

/** Checks a decoded tracker message: a reply, or a part of a listing still under way. */
export function parseTrackerMessage(
  value: unknown,
): ({ t: "reply" } & Reply) | ({ t: "part" } & ListingPart) {
  const m = readEnvelope(value);
  if (m.t === "part") {
    const id = readInt(m, "id", 0, 2 ** 32 - 1);
    const items = readArray(m, "items", LISTING_PART_ITEMS).filter(
      (x): x is Fields =>
        typeof x === "object" && x !== null && !Array.isArray(x) && !(x instanceof Uint8Array),
    );
    return { t: "part", id, items };
  }
  return { t: "reply", ...parseReply(value) };
}

/** Checks a decoded tracker reply. */
export function parseReply(value: unknown): Reply {
  const m = readEnvelope(value);
  if (m.t !== "reply")
    throw new ProtocolError(`Unexpected message type ${JSON.stringify(m.t).slice(0, 60)} from tracker`);
  const id = readInt(m, "id", 0, 2 ** 32 - 1);
  if (m.ok === true) {
    return { id, ok: true, data: m.data === undefined ? {} : readMap(m, "data") };
  }
  return { id, ok: false, reason: readString(m, "reason", 4096) };
}
