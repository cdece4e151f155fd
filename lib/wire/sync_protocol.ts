// Tracker <-> tracker messages: hello and proof, operations, status, base and liveness. Shapes only.
import { MAX_NODE_ID } from "../config.ts";
import { ProtocolError } from "../errors.ts";
import { type Change, MAX_EXPIRED_PER_OP } from "../replica/change.ts";
import type { Base, Op, SyncStatus, VersionVector } from "../replica/replica.ts";
import type { Stamp } from "../replica/stamp.ts";
import type { StateSnapshot } from "../replica/state.ts";
import {
  asMap,
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
import { MAX_OPS_PER_FRAME } from "./limits.ts";
import { PART_BYTES } from "./parts.ts";
import { MAX_PIECE_HASH_BYTES } from "./tracker_protocol.ts";

/** Node ids: ids derived from addresses, and the line numbers of data dirs from before them. */
const MAX_NODE = MAX_NODE_ID;
/** Origins in a version vector: every tracker the cluster ever had, the removed ones included. */
const MAX_ORIGINS = 1024;
const MAX_LIVE = 100_000;
const MAX_BASE_ITEMS = 1_000_000;

export type SyncMessage =
  | { t: "sync_hello"; node: number; nonce: Uint8Array }
  | { t: "sync_challenge"; nonce: Uint8Array; mac: Uint8Array }
  | { t: "sync_prove"; mac: Uint8Array }
  | { t: "sync_welcome" }
  | { t: "sync_ops"; ops: Op[] }
  | { t: "sync_status"; status: SyncStatus; partial?: PartialBase }
  | { t: "sync_base_part"; stamp: Stamp; totalBytes: number; offset: number; bytes: Uint8Array }
  | { t: "sync_live"; sessions: [session: string, heardAgoMs: number][] };

/**
 * Largest compacted base a tracker takes from another, in bytes of its chunks: checked on a
 * transfer's first part, before any of it is kept. Chunks are built into the state as they come
 * (lib/wire/base_stream.ts), so this bounds memory through the state, which lives in memory.
 */
export const MAX_BASE_BYTES = 4 * 1024 * 1024 * 1024;

/**
 * What a tracker takes in parts from a proven one: a batch of operations holds at most one share
 * with a large piece-hash list (sync.ts's sendOps puts it alone), or small ones within a part;
 * the live sessions are up to MAX_LIVE entries of a 128-byte id and a number.
 */
export const SYNC_MESSAGE_BOUNDS = {
  sync_ops: MAX_PIECE_HASH_BYTES + 2 * PART_BYTES,
  sync_live: MAX_LIVE * 160,
} as const;

/** How much of another tracker's base a tracker holds: a cut transfer continues from `offset`. */
export interface PartialBase {
  stamp: Stamp;
  offset: number;
}

/** Checks a decoded tracker-to-tracker message. */
export function parseSyncMessage(value: unknown): SyncMessage {
  const m = readEnvelope(value);
  switch (m.t) {
    case "sync_hello":
      return { t: m.t, node: readInt(m, "node", 1, MAX_NODE), nonce: readBytes(m, "nonce", 32, 32) };
    case "sync_challenge":
      return { t: m.t, nonce: readBytes(m, "nonce", 32, 32), mac: readBytes(m, "mac", 32, 32) };
    case "sync_prove":
      return { t: m.t, mac: readBytes(m, "mac", 32, 32) };
    case "sync_welcome":
      return { t: m.t };
    case "sync_ops":
      return { t: m.t, ops: readArray(m, "ops", MAX_OPS_PER_FRAME).map(parseOp) };
    case "sync_status": {
      const status = parseStatus(readMap(m, "status"));
      const partial = optional(m, "partial", (f, k) => {
        const p = readMap(f, k);
        return {
          stamp: parseStamp(readMap(p, "stamp")),
          offset: readInt(p, "offset", 0, MAX_BASE_BYTES),
        };
      });
      return partial ? { t: m.t, status, partial } : { t: m.t, status };
    }
    case "sync_base_part":
      return {
        t: m.t,
        stamp: parseStamp(readMap(m, "stamp")),
        totalBytes: readInt(m, "totalBytes", 1, MAX_BASE_BYTES),
        offset: readInt(m, "offset", 0, MAX_BASE_BYTES),
        bytes: readBytes(m, "bytes", 1, PART_BYTES),
      };
    case "sync_live":
      return {
        t: m.t,
        sessions: readArray(m, "sessions", MAX_LIVE).map((pair) => {
          if (!Array.isArray(pair) || pair.length !== 2)
            throw new ProtocolError("Cannot parse live session entry");
          return [readString({ s: pair[0] }, "s", 128), readInt({ a: pair[1] }, "a", 0, 24 * 3600_000)];
        }),
      };
    default:
      throw new ProtocolError(`Unknown sync message type ${JSON.stringify(m.t).slice(0, 60)}`);
  }
}

/** Checks one operation (from a peer tracker or from disk). */
export function parseOp(value: unknown): Op {
  const m = asMap(value, "op");
  const op: Op = {
    origin: readInt(m, "origin", 1, MAX_NODE),
    seq: readInt(m, "seq", 1, Number.MAX_SAFE_INTEGER),
    stamp: parseStamp(readMap(m, "stamp")),
    change: parseChange(readMap(m, "change")),
  };
  const rid = optional(m, "rid", (f, k) => readString(f, k, 64));
  if (rid !== undefined) op.rid = rid;
  if (op.stamp.node !== op.origin)
    throw new ProtocolError(`Cannot parse op: stamp node ${op.stamp.node} is not origin ${op.origin}`);
  return op;
}

function parseChange(m: Fields): Change {
  const user = () => readName(m, "user");
  const group = () => readName(m, "group");
  const session = () => readString(m, "session", 128);
  switch (m.kind) {
    case "create_user":
      return { kind: m.kind, user: user(), hash: readString(m, "hash", 1024) };
    case "login":
      return {
        kind: m.kind,
        user: user(),
        hash: readString(m, "hash", 1024),
        session: session(),
        peer: readString(m, "peer", 262),
        key: m.key === undefined ? "" : readString(m, "key", 64), // ops logged before keys have none
      };
    case "logout":
      return { kind: m.kind, session: session() };
    case "expire_sessions":
      return {
        kind: m.kind,
        sessions: readArray(m, "sessions", MAX_EXPIRED_PER_OP).map((id) => readString({ id }, "id", 128)),
      };
    case "create_group":
    case "join_group":
    case "leave_group":
      return { kind: m.kind, user: user(), session: session(), group: group() };
    case "accept_request":
    case "reject_request":
      return {
        kind: m.kind,
        user: user(),
        session: session(),
        group: group(),
        member: readName(m, "member"),
      };
    case "share": {
      const f = readMap(m, "file");
      const file = {
        name: readName(f, "name"),
        sizeBytes: readInt(f, "sizeBytes", 0, Number.MAX_SAFE_INTEGER),
        sha1: readBytes(f, "sha1", 20, 20),
        pieces: readBytes(f, "pieces", 0, MAX_PIECE_HASH_BYTES),
      };
      return { kind: m.kind, user: user(), session: session(), group: group(), file };
    }
    case "unshare":
      return { kind: m.kind, user: user(), session: session(), group: group(), name: readName(m, "name") };
    default:
      throw new ProtocolError(`Unknown change kind ${JSON.stringify(m.kind).slice(0, 60)}`);
  }
}

function parseStamp(m: Fields): Stamp {
  return {
    wall: readInt(m, "wall", 0, Number.MAX_SAFE_INTEGER),
    count: readInt(m, "count", 0, Number.MAX_SAFE_INTEGER),
    node: readInt(m, "node", 0, MAX_NODE),
  };
}

function parseVersionVector(items: unknown[]): VersionVector {
  return items.map((pair) => {
    if (!Array.isArray(pair) || pair.length !== 2)
      throw new ProtocolError("Cannot parse version vector entry");
    return [
      readInt({ v: pair[0] }, "v", 1, MAX_NODE),
      readInt({ v: pair[1] }, "v", 0, Number.MAX_SAFE_INTEGER),
    ];
  });
}

function parseStatus(m: Fields): SyncStatus {
  const status: SyncStatus = {
    node: readInt(m, "node", 1, MAX_NODE),
    vv: parseVersionVector(readArray(m, "vv", MAX_ORIGINS)),
    clock: parseStamp(readMap(m, "clock")),
    frontier: parseStamp(readMap(m, "frontier")),
  };
  const now = optional(m, "now", (f, k) => parseStamp(readMap(f, k)));
  if (now) status.now = now;
  if (m.catchingUp === true) status.catchingUp = true;
  else if (m.catchingUp !== undefined) throw new ProtocolError(`Cannot parse "catchingUp": expected true`);
  return status;
}

/** Checks a compacted base, deep enough that State.fromSnapshot cannot be fooled by its shape. */
export function parseBase(m: Fields): Base {
  const s = readMap(m, "state");
  const text = (v: unknown, what: string): string => {
    if (typeof v !== "string") throw new ProtocolError(`Cannot parse base ${what}`);
    return v;
  };
  const pair = (v: unknown, what: string): [string, string] => {
    if (!Array.isArray(v) || v.length !== 2) throw new ProtocolError(`Cannot parse base ${what}`);
    return [text(v[0], what), text(v[1], what)];
  };
  const state: StateSnapshot = {
    users: readArray(s, "users", MAX_BASE_ITEMS).map((u) => pair(u, "user")),
    // A session is [id, user, peer, key]; bases saved before clients had keys lack the key.
    sessions: readArray(s, "sessions", MAX_BASE_ITEMS).map((x): [string, string, string, string?] => {
      if (!Array.isArray(x) || (x.length !== 3 && x.length !== 4))
        throw new ProtocolError("Cannot parse base session");
      const session = [text(x[0], "session"), text(x[1], "session"), text(x[2], "session")] as const;
      return x.length === 4 ? [...session, text(x[3], "session")] : [...session];
    }),
    groups: readArray(s, "groups", MAX_BASE_ITEMS).map((v) => {
      const g = asMap(v, "group");
      const list = (k: string) => readArray(g, k, MAX_BASE_ITEMS).map((x) => text(x, k));
      return {
        id: readString(g, "id"),
        owner: readString(g, "owner"),
        members: list("members"),
        pending: list("pending"),
        files: readArray(g, "files", MAX_BASE_ITEMS).map((fv) => {
          const f = asMap(fv, "file");
          const sharers = readArray(f, "sharers", MAX_BASE_ITEMS).map((x) => pair(x, "sharer"));
          return {
            name: readString(f, "name"),
            sizeBytes: readInt(f, "sizeBytes", 0, Number.MAX_SAFE_INTEGER),
            sha1: readString(f, "sha1"),
            pieces: readString(f, "pieces", 2 * MAX_PIECE_HASH_BYTES),
            sharers,
          };
        }),
      };
    }),
    rids: readArray(s, "rids", MAX_BASE_ITEMS).map((r) => {
      if (
        !Array.isArray(r) ||
        r.length !== 4 ||
        typeof r[0] !== "string" ||
        typeof r[1] !== "boolean" ||
        typeof r[2] !== "string"
      ) {
        throw new ProtocolError("Cannot parse base rid");
      }
      return [r[0], r[1], r[2], readInt({ v: r[3] }, "v", 0, Number.MAX_SAFE_INTEGER)];
    }),
  };
  return {
    stamp: parseStamp(readMap(m, "stamp")),
    vv: parseVersionVector(readArray(m, "vv", MAX_ORIGINS)),
    state,
  };
}
