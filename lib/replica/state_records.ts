// The state as a sequence of small records, and back: the form a compacted base is written,
// sent and loaded in, one bounded record at a time, so no side ever holds the whole encoding.
// Pure: no I/O, no clock reads. lib/wire/base_stream.ts puts the records into CBOR chunks and
// checks each decoded record field by field before it calls StateBuilder.
import { ProtocolError } from "../errors.ts";
import { type Group, type SharedFile, State } from "./state.ts";

/**
 * Record kinds: the first element of each record. Users, sessions, groups and request ids come
 * many to a record, column by column (columns of strings first, packed: see packStrings, then
 * columns of numbers); the other kinds belong to the last group or file declared:
 *   [user, ids, hashes]
 *   [session, ids, users, peers, keys]
 *   [group, ids, owners, members, pending, memberCounts[], pendingCounts[]]
 *   [members, names] and [pending, names]: more of the last group's
 *   [file, name, sizeBytes, sha1, pieceBytes]: a file of the last group
 *   [pieces, bytes]: the next piece hashes of the last file
 *   [sharers, peers, users]: the last file's next sharers, in order
 *   [rid, rids, reasons, oks[] (1 or 0), walls[]]
 */
export const RECORD = {
  user: 1,
  session: 2,
  group: 3,
  members: 4,
  pending: 5,
  file: 6,
  pieces: 7,
  sharers: 8,
  rid: 9,
} as const;

/** One record: its kind, then its fields (see RECORD). */
export type StateRecord = (string | number | Uint8Array | Packed | number[])[];

/**
 * A column of strings: joined by NUL into one string (one string to decode instead of
 * thousands: ids cannot hold NUL), or the strings themselves when one of them holds a NUL.
 */
export type Packed = string | string[];

/** Packs a column of strings (see Packed). */
export function packStrings(list: readonly string[]): Packed {
  if (list.length === 0) return [];
  for (const s of list) if (s.includes("\0")) return [...list];
  return list.join("\0");
}

/** Bounds of one record: any state, however large one group or file, cuts into records this small. */
export interface RecordLimits {
  /** Characters of strings per record, about (every string is at most 1 KiB). */
  recordChars: number;
  /** Bytes of piece hashes per pieces record. */
  pieceBytes: number;
}

export const RECORD_LIMITS: RecordLimits = { recordChars: 32 * 1024, pieceBytes: 64 * 1024 };

/** A group small enough to ride whole in a record of many groups. */
const INLINE_NAMES = 64;

/** Rows of one kind, column by column, until the record is full. */
class Batch {
  kind = 0;
  chars = 0;
  strings: string[][] = [];
  numbers: number[][] = [];
  rows = 0;

  start(kind: number, strings: number, numbers: number): void {
    this.kind = kind;
    this.chars = 0;
    this.rows = 0;
    this.strings = Array.from({ length: strings }, () => []);
    this.numbers = Array.from({ length: numbers }, () => []);
  }

  record(): StateRecord {
    return [this.kind, ...this.strings.map(packStrings), ...this.numbers];
  }
}

/** The records of `state`, in the order that rebuilds it exactly (Maps keep insertion order). */
export function* stateRecords(state: State, limits: RecordLimits = RECORD_LIMITS): Generator<StateRecord> {
  const max = limits.recordChars;
  const b = new Batch();
  /** Makes room for a row of `chars` in a batch of `kind`: the batch it ends, if it is full or another kind. */
  const row = (kind: number, strings: number, numbers: number, chars: number): StateRecord | undefined => {
    let full: StateRecord | undefined;
    if (b.kind !== kind || b.chars + chars > max) {
      if (b.rows > 0) full = b.record();
      b.start(kind, strings, numbers);
    }
    b.chars += chars;
    b.rows++;
    return full;
  };
  for (const [id, u] of state.users) {
    const full = row(RECORD.user, 2, 0, id.length + u.hash.length);
    if (full) yield full;
    b.strings[0]?.push(id);
    b.strings[1]?.push(u.hash);
  }
  for (const [id, s] of state.sessions) {
    const full = row(RECORD.session, 4, 0, id.length + s.user.length + s.peer.length + s.key.length);
    if (full) yield full;
    const [ids, users, peers, keys] = b.strings;
    ids?.push(id);
    users?.push(s.user);
    peers?.push(s.peer);
    keys?.push(s.key);
  }
  for (const [id, g] of state.groups) {
    const inline = g.files.size === 0 && g.members.size + g.pending.size <= INLINE_NAMES;
    let chars = id.length + g.owner.length;
    if (inline) {
      for (const m of g.members) chars += m.length + 1;
      for (const p of g.pending) chars += p.length + 1;
    }
    const full = row(RECORD.group, 4, 2, chars);
    if (full) yield full;
    const [ids, owners, members, pending] = b.strings;
    const [memberCounts, pendingCounts] = b.numbers;
    ids?.push(id);
    owners?.push(g.owner);
    if (inline) {
      memberCounts?.push(g.members.size);
      for (const m of g.members) members?.push(m);
      pendingCounts?.push(g.pending.size);
      for (const p of g.pending) pending?.push(p);
      continue;
    }
    memberCounts?.push(0);
    pendingCounts?.push(0);
    yield b.record(); // what follows belongs to this group: it must be the last one declared
    b.start(0, 0, 0);
    for (const names of nameBatches(g.members, max)) yield [RECORD.members, packStrings(names)];
    for (const names of nameBatches(g.pending, max)) yield [RECORD.pending, packStrings(names)];
    for (const f of g.files.values()) yield* fileRecords(f, limits);
  }
  for (const [rid, o] of state.rids.entries()) {
    const reason = o.reason ?? "";
    const full = row(RECORD.rid, 2, 2, rid.length + reason.length + 8);
    if (full) yield full;
    b.strings[0]?.push(rid);
    b.strings[1]?.push(reason);
    b.numbers[0]?.push(o.ok ? 1 : 0);
    b.numbers[1]?.push(o.wall);
  }
  if (b.rows > 0) yield b.record();
}

function* fileRecords(f: SharedFile, limits: RecordLimits): Generator<StateRecord> {
  yield [RECORD.file, f.name, f.sizeBytes, f.sha1, f.pieces.byteLength];
  for (let at = 0; at < f.pieces.byteLength; at += limits.pieceBytes)
    yield [RECORD.pieces, f.pieces.subarray(at, Math.min(at + limits.pieceBytes, f.pieces.byteLength))];
  let peers: string[] = [];
  let users: string[] = [];
  let chars = 0;
  for (const [peer, user] of f.sharers) {
    if (peers.length > 0 && chars + peer.length + user.length > limits.recordChars) {
      yield [RECORD.sharers, packStrings(peers), packStrings(users)];
      peers = [];
      users = [];
      chars = 0;
    }
    peers.push(peer);
    users.push(user);
    chars += peer.length + user.length + 2;
  }
  if (peers.length > 0) yield [RECORD.sharers, packStrings(peers), packStrings(users)];
}

/** Names in batches of about `maxChars` characters. */
function* nameBatches(names: Iterable<string>, maxChars: number): Generator<string[]> {
  let batch: string[] = [];
  let chars = 0;
  for (const name of names) {
    if (batch.length > 0 && chars + name.length > maxChars) {
      yield batch;
      batch = [];
      chars = 0;
    }
    batch.push(name);
    chars += name.length + 1;
  }
  if (batch.length > 0) yield batch;
}

/**
 * Rebuilds a State from the fields of records taken in order (checked for their types by the
 * caller). Each is checked against what came before it (a member needs its group, piece hashes
 * their file, no id twice), so records that do not come from one state are refused with a
 * ProtocolError naming the problem.
 */
export class StateBuilder {
  #state = new State();
  #group: Group | undefined;
  #groupId = "";
  #file: SharedFile | undefined;
  #pieceAt = 0;

  user(id: string, hash: string): void {
    const users = this.#state.users;
    const before = users.size;
    users.set(id, { hash }); // one lookup, not has() then set(): a base has millions of users
    if (users.size === before) this.#fail(`user ${id} twice`);
  }

  session(id: string, user: string, peer: string, key: string): void {
    const state = this.#state;
    if (state.sessions.has(id)) this.#fail("a session twice");
    if (state.peerSessions.has(peer)) this.#fail(`two sessions at peer ${peer}`);
    state.sessions.set(id, { user, peer, key });
    state.peerSessions.set(peer, id);
  }

  /** A group; its members and pending requests follow (members(), pending()). */
  group(id: string, owner: string): void {
    this.#endFile();
    const groups = this.#state.groups;
    const before = groups.size;
    const g: Group = { owner, members: new Set(), pending: new Set(), files: new Map() };
    // Not addGroup(): the replica clones an adopted base at once, and a clone owns no group
    // (the first change copies it), so marking each one owned here is a WeakSet insert for nothing.
    groups.set(id, g);
    if (groups.size === before) this.#fail(`group ${id} twice`);
    this.#group = g;
    this.#groupId = id;
  }

  /** More members of the last group: `names[from..to)`. */
  members(names: readonly string[], from = 0, to = names.length): void {
    const members = this.#inGroup("member").members;
    for (let i = from; i < to; i++) {
      const name = names[i];
      if (name === undefined) this.#fail("fewer members than counted");
      members.add(name);
    }
  }

  /** More pending requests of the last group: `names[from..to)`. */
  pending(names: readonly string[], from = 0, to = names.length): void {
    const pending = this.#inGroup("request").pending;
    for (let i = from; i < to; i++) {
      const name = names[i];
      if (name === undefined) this.#fail("fewer requests than counted");
      pending.add(name);
    }
  }

  /** A file of the last group; its `pieceBytes` of piece hashes follow. */
  file(name: string, sizeBytes: number, sha1: Uint8Array, pieceBytes: number): void {
    this.#endFile();
    const g = this.#inGroup("file");
    if (g.files.has(name)) this.#fail(`file ${name} twice in group ${this.#groupId}`);
    const file: SharedFile = {
      name,
      sizeBytes,
      sha1: sha1.slice(), // copies: the record may be a view of a reused buffer
      pieces: new Uint8Array(pieceBytes),
      sharers: new Map(),
    };
    g.files.set(name, file);
    this.#file = file;
    this.#pieceAt = 0;
  }

  /** The next piece hashes of the last file. */
  pieces(slice: Uint8Array): void {
    const file = this.#inFile("piece hashes");
    if (this.#pieceAt + slice.byteLength > file.pieces.byteLength)
      this.#fail(`more piece hashes than file ${file.name} declares (${file.pieces.byteLength} bytes)`);
    file.pieces.set(slice, this.#pieceAt);
    this.#pieceAt += slice.byteLength;
  }

  /** The next sharer of the last file. */
  sharer(peer: string, user: string): void {
    this.#inFile("sharers").sharers.set(peer, user);
  }

  rid(rid: string, ok: boolean, reason: string, wall: number): void {
    this.#endFile();
    const rids = this.#state.rids;
    if (rids.has(rid)) this.#fail("a request id twice");
    rids.add(rid, ok ? { ok, wall } : { ok, reason, wall });
  }

  /** The state rebuilt; refused if a file still lacks some of its piece hashes. */
  finish(): State {
    this.#endFile();
    this.#group = undefined;
    return this.#state;
  }

  #endFile(): void {
    const file = this.#file;
    if (file && this.#pieceAt !== file.pieces.byteLength)
      this.#fail(
        `file ${file.name} has ${this.#pieceAt} of its ${file.pieces.byteLength} bytes of piece hashes`,
      );
    this.#file = undefined;
  }

  #inGroup(what: string): Group {
    if (!this.#group) return this.#fail(`a ${what} before any group`);
    return this.#group;
  }

  #inFile(what: string): SharedFile {
    if (!this.#file) return this.#fail(`${what} before any file`);
    return this.#file;
  }

  #fail(problem: string): never {
    throw new ProtocolError(`Base records out of place: ${problem}`);
  }
}
