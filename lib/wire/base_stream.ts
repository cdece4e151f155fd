// A compacted base as a stream of chunks: a header record (format, stamp, version vector), the
// state's records (lib/replica/state_records.ts), then a chunk holding only the end record (how
// many records came before it, and the CRC-32 of every byte before it). Each chunk is whole
// CBOR records, at most PART_BYTES, and decodes alone: a base is written, sent, stored and
// loaded one chunk at a time, and neither side ever holds its whole encoding. Pure.
import { ProtocolError } from "../errors.ts";
import type { BaseImage, VersionVector } from "../replica/replica.ts";
import type { Stamp } from "../replica/stamp.ts";
import type { State } from "../replica/state.ts";
import {
  RECORD,
  RECORD_LIMITS,
  type RecordLimits,
  StateBuilder,
  stateRecords,
} from "../replica/state_records.ts";
import { decodeSequence, encodeSequenceItem } from "./codec.ts";
import { MAX_NAME_BYTES } from "./limits.ts";
import { PART_BYTES } from "./parts.ts";
import { MAX_PIECE_HASH_BYTES } from "./tracker_protocol.ts";

/** The version of this format, first in the header: a reader refuses another one by name. */
export const BASE_FORMAT = 1;
const HEADER = 0;
const END = 10;
/** Longest string in a record: a name, an argon2id hash, a session id, a peer address, a reason. */
const MAX_TEXT_BYTES = 1024;

/** What a base says about itself: the last op folded into it, and the version vector there. */
export interface BaseHeader {
  stamp: Stamp;
  vv: VersionVector;
}

/** How a base is cut: chunks of at most `chunkBytes`, records within `limits`. */
export interface BaseCut {
  chunkBytes: number;
  limits: RecordLimits;
}

/**
 * The chunks of the base `header` + `state`, each at most `cut.chunkBytes` (the last one is the
 * end record alone). The state must not change while the generator runs (encode it in one go,
 * or hold compaction until it ends).
 */
export function* encodeBase(
  header: BaseHeader,
  state: State,
  cut: BaseCut = { chunkBytes: PART_BYTES, limits: RECORD_LIMITS },
): Generator<Uint8Array, { bytes: number; records: number }> {
  const { chunkBytes } = cut;
  let chunk = new Uint8Array(chunkBytes);
  let used = 0;
  let crc = 0;
  let bytes = 0;
  let records = 0;
  const head = [HEADER, BASE_FORMAT, [header.stamp.wall, header.stamp.count, header.stamp.node], header.vv];
  const all = (function* (): Generator<unknown> {
    yield head;
    yield* stateRecords(state, cut.limits);
  })();
  for (const record of all) {
    const encoded = encodeSequenceItem(record);
    if (encoded.byteLength > chunkBytes)
      throw new Error(`a base record of ${encoded.byteLength} bytes does not fit a ${chunkBytes}-byte chunk`);
    if (used + encoded.byteLength > chunkBytes) {
      const full = chunk.subarray(0, used);
      crc = Bun.hash.crc32(full, crc);
      bytes += used;
      yield full;
      chunk = new Uint8Array(chunkBytes);
      used = 0;
    }
    chunk.set(encoded, used);
    used += encoded.byteLength;
    records++;
  }
  if (used > 0) {
    const last = chunk.subarray(0, used);
    crc = Bun.hash.crc32(last, crc);
    bytes += used;
    yield last;
  }
  const end = new Uint8Array(encodeSequenceItem([END, records, crc]));
  yield end;
  return { bytes: bytes + end.byteLength, records };
}

/**
 * Reads a base back from its chunks, taken in order: each is decoded and built into the state
 * at once (memory follows the state, not its encoding). A chunk that is not whole records, a
 * record out of place, a base of another format, one cut short or one whose bytes changed is
 * refused with a ProtocolError saying which.
 */
export class BaseReader {
  #builder = new StateBuilder();
  #header: BaseHeader | undefined;
  #crc = 0;
  #bytes = 0;
  #chunks = 0;
  #ended = false;
  #records = 0;

  /** Bytes taken so far. */
  get bytes(): number {
    return this.#bytes;
  }

  /** The header, once the first chunk is in. */
  get header(): BaseHeader | undefined {
    return this.#header;
  }

  /** Takes the next chunk. */
  add(chunk: Uint8Array): void {
    if (this.#ended) throw new ProtocolError("Base continues after its end record");
    const first = this.#chunks === 0;
    let records = 0;
    decodeSequence(chunk, (value) => {
      records++;
      if (this.#ended) throw new ProtocolError("Base continues after its end record");
      if (!Array.isArray(value)) throw new ProtocolError(`Base record ${this.#count()}: expected an array`);
      if (first && records === 1) this.#header = parseHeader(value);
      else if (value[0] === END) this.#end(value, records);
      else {
        this.#records++;
        readRecord(value, this.#builder);
      }
    });
    if (!this.#ended) this.#crc = Bun.hash.crc32(chunk, this.#crc);
    this.#bytes += chunk.byteLength;
    this.#chunks++;
  }

  /** The base, once its end record is in; refused if it ended early. */
  finish(): BaseImage {
    const header = this.#header;
    if (!header || !this.#ended)
      throw new ProtocolError(
        `Base is truncated: ${this.#bytes} bytes and ${this.#count()} records without its end record`,
      );
    return { stamp: header.stamp, vv: header.vv, state: this.#builder.finish() };
  }

  #count(): number {
    return this.#records + (this.#header ? 1 : 0);
  }

  #end(value: unknown[], recordsInChunk: number): void {
    if (recordsInChunk !== 1) throw new ProtocolError("Base end record shares a chunk with other records");
    const [, records, crc] = value;
    if (records !== this.#count())
      throw new ProtocolError(
        `Base is incomplete: its end record counts ${String(records)} records, read ${this.#count()}`,
      );
    if (crc !== this.#crc) throw new ProtocolError("Base is corrupt: its CRC-32 does not match its bytes");
    this.#ended = true;
  }
}

function parseHeader(v: unknown[]): BaseHeader {
  if (v[0] !== HEADER) throw new ProtocolError("Base does not start with its header record");
  if (v[1] !== BASE_FORMAT)
    throw new ProtocolError(`Base is in format ${String(v[1])}; this tracker reads format ${BASE_FORMAT}`);
  const s = v[2];
  const [wall, count, node] = Array.isArray(s) && s.length === 3 ? s : [];
  if (!isCount(wall) || !isCount(count) || !isCount(node)) throw new ProtocolError("Cannot parse base stamp");
  const vvItems = v[3];
  if (!Array.isArray(vvItems)) throw new ProtocolError("Cannot parse base version vector");
  const vv: VersionVector = vvItems.map((pair: unknown): [number, number] => {
    if (!Array.isArray(pair) || pair.length !== 2 || !isCount(pair[0]) || !isCount(pair[1]) || pair[0] < 1)
      throw new ProtocolError("Cannot parse base version vector entry");
    return [pair[0], pair[1]];
  });
  return { stamp: { wall, count, node }, vv };
}

/**
 * Checks one decoded record field by field and hands its fields to `b`: what StateBuilder
 * takes is the right shape. Written without closures or copies: a base has millions of fields.
 */
function readRecord(v: unknown[], b: StateBuilder): void {
  const kind = v[0];
  const n = v.length;
  switch (kind) {
    case RECORD.user: {
      if (n !== 3) bad(kind, "expected 2 columns");
      const ids = strings(v[1], kind, MAX_NAME_BYTES);
      const hashes = strings(v[2], kind);
      rows(kind, ids, hashes);
      for (let i = 0; i < ids.length; i++) b.user(at(ids, i), at(hashes, i));
      return;
    }
    case RECORD.session: {
      if (n !== 5) bad(kind, "expected 4 columns");
      const ids = strings(v[1], kind);
      const users = strings(v[2], kind, MAX_NAME_BYTES);
      const peers = strings(v[3], kind);
      const keys = strings(v[4], kind);
      rows(kind, ids, users, peers, keys);
      for (let i = 0; i < ids.length; i++) b.session(at(ids, i), at(users, i), at(peers, i), at(keys, i));
      return;
    }
    case RECORD.group: {
      if (n !== 7) bad(kind, "expected 6 columns");
      const ids = strings(v[1], kind, MAX_NAME_BYTES);
      const owners = strings(v[2], kind, MAX_NAME_BYTES);
      const members = strings(v[3], kind, MAX_NAME_BYTES);
      const pending = strings(v[4], kind, MAX_NAME_BYTES);
      const memberCounts = counts(v[5], kind);
      const pendingCounts = counts(v[6], kind);
      rows(kind, ids, owners, memberCounts, pendingCounts);
      let m = 0;
      let p = 0;
      for (let i = 0; i < ids.length; i++) {
        b.group(at(ids, i), at(owners, i));
        const mEnd = m + at(memberCounts, i);
        const pEnd = p + at(pendingCounts, i);
        if (mEnd > members.length || pEnd > pending.length) bad(kind, "fewer names than counted");
        b.members(members, m, mEnd);
        b.pending(pending, p, pEnd);
        m = mEnd;
        p = pEnd;
      }
      if (m !== members.length || p !== pending.length) bad(kind, "more names than counted");
      return;
    }
    case RECORD.members:
      if (n !== 2) bad(kind, "expected one column");
      b.members(strings(v[1], kind, MAX_NAME_BYTES));
      return;
    case RECORD.pending:
      if (n !== 2) bad(kind, "expected one column");
      b.pending(strings(v[1], kind, MAX_NAME_BYTES));
      return;
    case RECORD.file: {
      if (n !== 5) bad(kind, "expected 4 fields");
      const sha1 = v[3];
      if (!(sha1 instanceof Uint8Array) || sha1.byteLength !== 20) bad(kind, "sha1 is not 20 bytes");
      b.file(
        text(v[1], kind, MAX_NAME_BYTES),
        count(v[2], kind),
        sha1,
        count(v[4], kind, MAX_PIECE_HASH_BYTES),
      );
      return;
    }
    case RECORD.pieces: {
      const slice = v[1];
      if (n !== 2 || !(slice instanceof Uint8Array)) bad(kind, "expected bytes");
      b.pieces(slice);
      return;
    }
    case RECORD.sharers: {
      if (n !== 3) bad(kind, "expected 2 columns");
      const peers = strings(v[1], kind);
      const users = strings(v[2], kind, MAX_NAME_BYTES);
      rows(kind, peers, users);
      for (let i = 0; i < peers.length; i++) b.sharer(at(peers, i), at(users, i));
      return;
    }
    case RECORD.rid: {
      if (n !== 5) bad(kind, "expected 4 columns");
      const rids = strings(v[1], kind);
      const reasons = strings(v[2], kind);
      const oks = counts(v[3], kind);
      const walls = counts(v[4], kind);
      rows(kind, rids, reasons, oks, walls);
      for (let i = 0; i < rids.length; i++) {
        const ok = at(oks, i);
        if (ok > 1) bad(kind, "ok is not 0 or 1");
        b.rid(at(rids, i), ok === 1, at(reasons, i), at(walls, i));
      }
      return;
    }
    default:
      bad(kind, "unknown kind");
  }
}

/** A column of strings (packed by packStrings), each at most `max` characters. */
function strings(v: unknown, kind: unknown, max = MAX_TEXT_BYTES): string[] {
  if (typeof v === "string") {
    const list = v.split("\0");
    if (v.length > max) for (const s of list) text(s, kind, max); // only a long column can hold a long string
    return list;
  }
  if (!Array.isArray(v)) return bad(kind, "expected a column of strings");
  for (const s of v) text(s, kind, max);
  return v; // every item checked above
}

/** A column of counts. */
function counts(v: unknown, kind: unknown): number[] {
  if (!Array.isArray(v)) return bad(kind, "expected a column of counts");
  for (const c of v) count(c, kind);
  return v; // every item checked above
}

/** Every column of a record has as many rows. */
function rows(kind: unknown, first: readonly unknown[], ...others: readonly unknown[][]): void {
  for (const column of others) if (column.length !== first.length) bad(kind, "columns of unequal length");
}

/** Item `i` of a column whose length rows() checked. */
function at<T>(column: readonly T[], i: number): T {
  const item = column[i];
  if (item === undefined) throw new ProtocolError("Cannot parse base record: a column ends early");
  return item;
}

function bad(kind: unknown, what: string): never {
  throw new ProtocolError(`Cannot parse base record of kind ${JSON.stringify(kind)?.slice(0, 20)}: ${what}`);
}

function text(s: unknown, kind: unknown, max = MAX_TEXT_BYTES): string {
  if (typeof s !== "string" || s.length > max) return bad(kind, `expected a string of at most ${max} bytes`);
  return s;
}

function count(v: unknown, kind: unknown, max = Number.MAX_SAFE_INTEGER): number {
  if (!isCount(v) || v > max) return bad(kind, `expected a count of at most ${max}`);
  return v;
}

function isCount(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}
