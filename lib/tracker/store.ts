// Shell: the tracker's durable operation log and compacted base in bun:sqlite (WAL).
// An operation is acknowledged only after append() returns: it is then in the WAL file,
// which survives a SIGKILL of the process.
import { Database } from "bun:sqlite";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { MIN_NODE_ID } from "../config.ts";
import { messageOf } from "../errors.ts";
import type { Base, Op, VersionVector } from "../replica/replica.ts";
import { compareStamps } from "../replica/stamp.ts";
import { decodeJsonOrCbor, decodeMessage, encodeJsonValue, encodeValue } from "../wire/codec.ts";
import { asMap } from "../wire/fields.ts";

import { parseBase, parseOp } from "../wire/sync_protocol.ts";

/** What a tracker persisted: enough to rebuild its replica exactly. */
export interface Persisted {
  node: number;
  base?: Base;
  ops: Op[];
}

export interface StoreOptions {
  fsync?: boolean | undefined;
  /** This tracker's line number: a data dir bound to it was written when node ids were line numbers. */
  line?: number | undefined;
  /** Other node ids this line had (its address's, before it was pinned): their data dirs are this tracker's. */
  formerIds?: readonly number[] | undefined;
  log?: ((line: string) => void) | undefined;
}

/** The on-disk log of one tracker. */
export class Store {
  #db: Database;
  #insert;

  /**
   * Opens (creating if needed) `<dataDir>/tracker.sqlite` for node id `node`; refuses a data dir
   * of another tracker. One bound to an id this same line had (see StoreOptions) becomes this
   * node's: its ops keep their old origin, one no tracker makes ops of any more (README
   * "Adding and removing trackers" says why nothing is lost or reused).
   */
  constructor(dataDir: string, node: number, options: StoreOptions = {}) {
    mkdirSync(dataDir, { recursive: true });
    this.#db = new Database(join(dataDir, "tracker.sqlite"), { create: true, strict: true });
    this.#db.exec("PRAGMA journal_mode = WAL");
    // NORMAL: a commit is in the WAL before we acknowledge (safe against a killed process);
    // FULL adds an fsync per commit, for power loss.
    this.#db.exec(`PRAGMA synchronous = ${options.fsync ? "FULL" : "NORMAL"}`);
    this.#db.exec("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
    this.#db.exec(
      "CREATE TABLE IF NOT EXISTS ops (origin INTEGER NOT NULL, seq INTEGER NOT NULL, body BLOB NOT NULL, PRIMARY KEY (origin, seq))",
    );
    this.#db.exec(
      "CREATE TABLE IF NOT EXISTS base (id INTEGER PRIMARY KEY CHECK (id = 1), body BLOB NOT NULL)",
    );
    this.#claim(dataDir, node, options);
    this.#insert = this.#db.query("INSERT OR IGNORE INTO ops (origin, seq, body) VALUES (?, ?, ?)");
  }

  /** Binds the data dir to `node` (taking over one bound to an earlier id of this line); throws if it is another's. */
  #claim(dataDir: string, node: number, options: StoreOptions): void {
    const owner = this.#db.query<{ value: string }, []>("SELECT value FROM meta WHERE key = 'node'").get();
    const bind = () =>
      this.#db.query("INSERT OR REPLACE INTO meta (key, value) VALUES ('node', ?)").run(String(node));
    if (!owner) return void bind();
    const owned = Number(owner.value);
    if (owned === node) return;
    if (owned < MIN_NODE_ID) {
      // Written by a version that used line numbers as node ids.
      if (owned !== options.line)
        throw new Error(
          `data dir ${dataDir} belongs to tracker ${owned} (a line number, as trackers were numbered before node ids came from addresses), not tracker ${options.line ?? "?"}: pass its own data dir with --data-dir, or start tracker ${owned} on the file it ran with once to convert it`,
        );
      bind();
      options.log?.(
        `data dir ${dataDir}: was tracker ${owned}'s by line number; now node ${node} of its address (its operations stay as they are)`,
      );
      return;
    }
    if (options.formerIds?.includes(owned)) {
      bind();
      options.log?.(`data dir ${dataDir}: was node ${owned}, now node ${node} (its line was pinned since)`);
      return;
    }
    throw new Error(
      `data dir ${dataDir} belongs to node ${owned}, not to this line's tracker (node ${node}): pass this tracker's own data dir with --data-dir, or start it with an empty one to catch up from the others (a tracker that moved to another address without a pinned id is a new tracker)`,
    );
  }

  /** The node id a data dir is bound to, read without changing it; undefined if it holds no store. */
  static nodeOf(dataDir: string): number | undefined {
    const path = join(dataDir, "tracker.sqlite");
    if (!existsSync(path)) return undefined;
    try {
      const db = new Database(path, { readonly: true });
      try {
        const row = db.query<{ value: string }, []>("SELECT value FROM meta WHERE key = 'node'").get();
        return row ? Number(row.value) : undefined;
      } finally {
        db.close();
      }
    } catch {
      return undefined; // unreadable here: the tracker that opens it says why
    }
  }

  /**
   * Whether this tracker started with nothing stored and has not caught up since: kept here, so
   * that one restarted before it caught up (holding only what reached it meanwhile) still waits.
   */
  get catchingUp(): boolean {
    return this.#db.query("SELECT 1 FROM meta WHERE key = 'catching_up'").get() !== null;
  }

  set catchingUp(on: boolean) {
    if (on) this.#db.query("INSERT OR REPLACE INTO meta (key, value) VALUES ('catching_up', '1')").run();
    else this.#db.query("DELETE FROM meta WHERE key = 'catching_up'").run();
  }

  /**
   * The node ids of the file's lines at the last start, and the ids that have left the file
   * since (a line listing one of them again brings back a tracker the others stopped waiting for).
   */
  get membership(): { members?: number[]; departed: number[] } {
    const row = this.#db
      .query<{ value: string }, []>("SELECT value FROM meta WHERE key = 'membership'")
      .get();
    if (!row) return { departed: [] };
    const ids = (v: unknown) => (Array.isArray(v) ? v.filter((n): n is number => Number.isInteger(n)) : []);
    let parsed: unknown;
    try {
      parsed = JSON.parse(row.value);
    } catch {
      return { departed: [] }; // unreadable: only the check of a returning tracker is lost
    }
    if (typeof parsed !== "object" || parsed === null) return { departed: [] };
    return {
      members: ids("members" in parsed ? parsed.members : undefined),
      departed: ids("departed" in parsed ? parsed.departed : undefined),
    };
  }

  set membership(m: { members: readonly number[]; departed: readonly number[] }) {
    this.#db
      .query("INSERT OR REPLACE INTO meta (key, value) VALUES ('membership', ?)")
      .run(JSON.stringify({ members: m.members, departed: m.departed }));
  }

  /** Everything persisted; a corrupt row is an error naming it (never a silently wrong state). */
  load(node: number): Persisted {
    const baseRow = this.#db.query<{ body: Uint8Array }, []>("SELECT body FROM base WHERE id = 1").get();
    const base = baseRow
      ? parseBase(asMap(decodeStored(baseRow.body, "base", decodeJsonOrCbor), "stored base"))
      : undefined;
    const rows = this.#db
      .query<{ origin: number; seq: number; body: Uint8Array }, []>("SELECT origin, seq, body FROM ops")
      .all();
    const ops = rows.map((r) => {
      const op = parseOp(decodeStored(r.body, `op ${r.origin}:${r.seq}`));
      if (op.origin !== r.origin || op.seq !== r.seq)
        throw new Error(`stored op ${r.origin}:${r.seq} holds op ${op.origin}:${op.seq}`);
      return op;
    });
    ops.sort((a, b) => compareStamps(a.stamp, b.stamp));
    return base ? { node, base, ops } : { node, ops };
  }

  /** Appends operations in one transaction: all are durable when this returns. */
  append(ops: readonly Op[]): void {
    if (ops.length === 0) return;
    this.#db.transaction(() => {
      for (const op of ops) this.#insert.run(op.origin, op.seq, encodeValue(op));
    })();
  }

  /**
   * Replaces the base (compacted here or adopted from another tracker) and drops every op it
   * covers, atomically. An origin's ops are folded in sequence order, so seq <= vv is folded.
   */
  saveBase(base: Base): void {
    this.saveEncodedBase(encodeJsonValue(base), base.vv);
  }

  /** The stored base as stored (to send it on as it is), if there is one. */
  encodedBase(): Uint8Array | undefined {
    return this.#db.query<{ body: Uint8Array }, []>("SELECT body FROM base WHERE id = 1").get()?.body;
  }

  /** saveBase() of a base already encoded (one received from another tracker, or about to be sent). */
  saveEncodedBase(body: Uint8Array, vv: VersionVector): void {
    this.#db.transaction(() => {
      this.#db.query("INSERT OR REPLACE INTO base (id, body) VALUES (1, ?)").run(body);
      for (const [origin, seq] of vv)
        this.#db.query("DELETE FROM ops WHERE origin = ? AND seq <= ?").run(origin, seq);
    })();
  }

  close(): void {
    this.#db.close();
  }
}

function decodeStored(body: Uint8Array, what: string, decode = decodeMessage): unknown {
  try {
    return decode(body);
  } catch (err) {
    throw new Error(
      `stored ${what} is corrupt (${messageOf(err)}): restore the data dir or remove it to resync from the other trackers`,
    );
  }
}
