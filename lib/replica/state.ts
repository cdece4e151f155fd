// The replicated data itself: users, sessions, groups, join requests and shared files.
// Pure: no I/O, no clock reads. Rules for changing it live in rules.ts.
import { RidLog } from "./rid_log.ts";

/** A file shared in a group, with every client address that serves it. */
export interface SharedFile {
  name: string;
  sizeBytes: number;
  sha1: Uint8Array;
  pieces: Uint8Array;
  /** peer address -> user sharing from it, in the order they started */
  sharers: Map<string, string>;
}

/** A group: one owner, members in the order they joined, pending requests in arrival order. */
export interface Group {
  owner: string;
  members: Set<string>;
  pending: Set<string>;
  files: Map<string, SharedFile>;
}

/** A logged-in client: its user, the address it serves pieces on, and its key's id. */
export interface Session {
  user: string;
  peer: string;
  /** The id of the TLS key the client logged in with ("" for sessions from before keys). */
  key: string;
}

/** The whole replicated state. Maps keep insertion order, which replay makes deterministic. */
export class State {
  users = new Map<string, { hash: string }>();
  sessions = new Map<string, Session>();
  /** peer address -> session id: one session per client address */
  peerSessions = new Map<string, string>();
  groups = new Map<string, Group>();
  rids = new RidLog();

  /** Users, sessions, groups, files and request ids held: what a snapshot's size grows with. */
  entryCount(): number {
    let files = 0;
    for (const g of this.groups.values()) files += g.files.size;
    return this.users.size + this.sessions.size + this.groups.size + files + this.rids.size;
  }

  /**
   * Groups this state may change in place. Groups are shared between a state and its clones
   * until one of them changes one: writableGroup() copies it first (copy on write), so a clone
   * costs a copy of the top-level maps, and a base and the live state replayed from it hold
   * one copy of every group neither has changed since.
   */
  #owned = new WeakSet<Group>();

  /** A copy that shares every group with this state until either changes it, for a replay from a base. */
  clone(): State {
    const copy = new State();
    copy.users = new Map(this.users);
    copy.sessions = new Map(this.sessions);
    copy.peerSessions = new Map(this.peerSessions);
    copy.rids = this.rids.clone();
    copy.groups = new Map(this.groups);
    this.#owned = new WeakSet(); // shared now: neither may change a group in place
    return copy;
  }

  /** Adds a group made by this state. */
  addGroup(id: string, g: Group): void {
    this.groups.set(id, g);
    this.#owned.add(g);
  }

  /** Group `id`, copied first if a clone shares it: the only way to change a group. */
  writableGroup(id: string): Group {
    const g = this.groups.get(id);
    if (!g) throw new Error(`no group ${id} to change`);
    if (this.#owned.has(g)) return g;
    const files = new Map<string, SharedFile>();
    for (const [name, f] of g.files) files.set(name, { ...f, sharers: new Map(f.sharers) });
    const copy: Group = { owner: g.owner, members: new Set(g.members), pending: new Set(g.pending), files };
    this.addGroup(id, copy);
    return copy;
  }

  /** Canonical plain view: equal snapshots mean converged replicas. Order is part of the state. */
  snapshot(): StateSnapshot {
    return {
      users: [...this.users].map(([id, u]) => [id, u.hash]),
      sessions: [...this.sessions].map(([id, s]) => [id, s.user, s.peer, s.key]),
      groups: [...this.groups].map(([id, g]) => ({
        id,
        owner: g.owner,
        members: [...g.members],
        pending: [...g.pending],
        files: [...g.files.values()].map((f) => ({
          name: f.name,
          sizeBytes: f.sizeBytes,
          sha1: Buffer.from(f.sha1).toString("hex"),
          pieces: Buffer.from(f.pieces).toString("hex"),
          sharers: [...f.sharers],
        })),
      })),
      rids: [...this.rids.entries()].map(([rid, o]) => [rid, o.ok, o.reason ?? "", o.wall]),
    };
  }

  /** Rebuilds a state from `snapshot()` output (the durable and transferable form). */
  static fromSnapshot(s: StateSnapshot): State {
    const state = new State();
    for (const [id, hash] of s.users) state.users.set(id, { hash });
    for (const [id, user, peer, key] of s.sessions) {
      state.sessions.set(id, { user, peer, key: key ?? "" });
      state.peerSessions.set(peer, id);
    }
    for (const g of s.groups) {
      const files = new Map<string, SharedFile>();
      for (const f of g.files) {
        files.set(f.name, {
          name: f.name,
          sizeBytes: f.sizeBytes,
          sha1: new Uint8Array(Buffer.from(f.sha1, "hex")), // not Uint8Array.from: it walks a typed array element by element
          pieces: new Uint8Array(Buffer.from(f.pieces, "hex")),
          sharers: new Map(f.sharers),
        });
      }
      state.addGroup(g.id, {
        owner: g.owner,
        members: new Set(g.members),
        pending: new Set(g.pending),
        files,
      });
    }
    for (const [rid, ok, reason, wall] of s.rids)
      state.rids.add(rid, ok ? { ok, wall } : { ok, reason, wall });
    return state;
  }
}

/** The plain, CBOR- and JSON-friendly form of a State. */
export interface StateSnapshot {
  users: [string, string][];
  /** [id, user, peer, key]: the key is missing from bases saved before clients had keys. */
  sessions: [id: string, user: string, peer: string, key?: string][];
  groups: {
    id: string;
    owner: string;
    members: string[];
    pending: string[];
    files: { name: string; sizeBytes: number; sha1: string; pieces: string; sharers: [string, string][] }[];
  }[];
  rids: [string, boolean, string, number][];
}
