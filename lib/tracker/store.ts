// Shell: the tracker's durable operation log and compacted base in bun:sqlite (WAL).
// An operation is acknowledged only after append() returns: it is then in the WAL file,
// which survives a SIGKILL of the process.
import { Database } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { messageOf } from "../errors.ts";
import type { Base, Op } from "../replica/replica.ts";
import { compareStamps } from "../replica/stamp.ts";
import { decodeMessage, encodeValue } from "../wire/codec.ts";
import { asMap } from "../wire/fields.ts";
import { parseBase, parseOp } from "../wire/sync_protocol.ts";

/** What a tracker persisted: enough to rebuild its replica exactly. */
export interface Persisted {
  node: number;
  base?: Base;
  ops: Op[];
}

/** The on-disk log of one tracker. */
export class Store {
  #db: Database;
  #insert;

  /** Opens (creating if needed) `<dataDir>/tracker.sqlite`; refuses a data dir of another tracker. */
  constructor(dataDir: string, node: number, options: { fsync?: boolean | undefined } = {}) {
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
    const owner = this.#db.query<{ value: string }, []>("SELECT value FROM meta WHERE key = 'node'").get();
    if (owner && Number(owner.value) !== node) {
      throw new Error(
        `data dir ${dataDir} belongs to tracker ${owner.value}, not tracker ${node}: pass --data-dir`,
      );
    }
    if (!owner) this.#db.query("INSERT INTO meta (key, value) VALUES ('node', ?)").run(String(node));
    this.#insert = this.#db.query("INSERT OR IGNORE INTO ops (origin, seq, body) VALUES (?, ?, ?)");
  }

  /** Everything persisted; a corrupt row is an error naming it (never a silently wrong state). */
  load(node: number): Persisted {
    const baseRow = this.#db.query<{ body: Uint8Array }, []>("SELECT body FROM base WHERE id = 1").get();
    const base = baseRow ? parseBase(asMap(decodeStored(baseRow.body, "base"), "stored base")) : undefined;
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
    this.#db.transaction(() => {
      this.#db.query("INSERT OR REPLACE INTO base (id, body) VALUES (1, ?)").run(encodeValue(base));
      for (const [origin, seq] of base.vv)
        this.#db.query("DELETE FROM ops WHERE origin = ? AND seq <= ?").run(origin, seq);
    })();
  }

  close(): void {
    this.#db.close();
  }
}

function decodeStored(body: Uint8Array, what: string): unknown {
  try {
    return decodeMessage(body);
  } catch (err) {
    throw new Error(
      `stored ${what} is corrupt (${messageOf(err)}): restore the data dir or remove it to resync from the other trackers`,
    );
  }
}
