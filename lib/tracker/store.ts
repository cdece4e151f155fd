// Shell: the tracker's durable operation log and compacted base in bun:sqlite (WAL).
// An operation is acknowledged only after append() returns: it is then in the WAL file,
// which survives a SIGKILL of the process.
import { Database } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { messageOf } from "../errors.ts";
import type { BaseImage, Op } from "../replica/replica.ts";
import { compareStamps, type Stamp } from "../replica/stamp.ts";
import { State } from "../replica/state.ts";
import { type BaseHeader, BaseReader, encodeBase } from "../wire/base_stream.ts";
import { decodeJsonOrCbor, decodeMessage, encodeValue } from "../wire/codec.ts";
import { asMap } from "../wire/fields.ts";

import { parseBase, parseOp } from "../wire/sync_protocol.ts";

/** What a tracker persisted: enough to rebuild its replica exactly. */
export interface Persisted {
  node: number;
  base?: BaseImage;
  ops: Op[];
}

/** The stored base: which stamp, and how many bytes of chunks. */
export interface StoredBase {
  stamp: Stamp;
  bytes: number;
}

/**
 * The on-disk log of one tracker: its ops in `tracker.sqlite`, its compacted base in
 * `base.sqlite`. The base is stored as the chunks it travels in (lib/wire/base_stream.ts), one
 * row each, under a generation number: a new base (saved here or coming in from another
 * tracker) is written under the next generation and made current in one small transaction, so
 * a restart always finds one whole base, and a base is read, sent and loaded a chunk at a time.
 * The base has a file of its own for its 64 KiB pages (a 1 MiB chunk is 16 pages, not 256: a
 * fifth of the time to write) while the ops keep small pages (an op commits one page).
 */
export class Store {
  #db: Database;
  #baseDb: Database;
  #insert;
  #insertChunk;
  #chunkAt;
  #nextGen: number;

  /** Opens (creating if needed) `<dataDir>/tracker.sqlite`; refuses a data dir of another tracker. */
  constructor(dataDir: string, node: number, options: { fsync?: boolean | undefined } = {}) {
    mkdirSync(dataDir, { recursive: true });
    // NORMAL: a commit is in the WAL before we acknowledge (safe against a killed process);
    // FULL adds an fsync per commit, for power loss.
    const synchronous = options.fsync ? "FULL" : "NORMAL";
    this.#db = new Database(join(dataDir, "tracker.sqlite"), { create: true, strict: true });
    this.#db.exec("PRAGMA journal_mode = WAL");
    this.#db.exec(`PRAGMA synchronous = ${synchronous}`);
    this.#db.exec("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
    this.#db.exec(
      "CREATE TABLE IF NOT EXISTS ops (origin INTEGER NOT NULL, seq INTEGER NOT NULL, body BLOB NOT NULL, PRIMARY KEY (origin, seq))",
    );
    const owner = this.#db.query<{ value: string }, []>("SELECT value FROM meta WHERE key = 'node'").get();
    if (owner && Number(owner.value) !== node) {
      throw new Error(
        `data dir ${dataDir} belongs to tracker ${owner.value}, not tracker ${node}: pass --data-dir`,
      );
    }
    if (!owner) this.#db.query("INSERT INTO meta (key, value) VALUES ('node', ?)").run(String(node));
    this.#insert = this.#db.query("INSERT OR IGNORE INTO ops (origin, seq, body) VALUES (?, ?, ?)");

    this.#baseDb = new Database(join(dataDir, "base.sqlite"), { create: true, strict: true });
    this.#baseDb.exec("PRAGMA page_size = 65536"); // before the first table: a new file only
    this.#baseDb.exec("PRAGMA journal_mode = WAL");
    this.#baseDb.exec(`PRAGMA synchronous = ${synchronous}`);
    this.#baseDb.exec("PRAGMA journal_size_limit = 67108864"); // a 1 GB save leaves no 1 GB WAL behind
    this.#baseDb.exec("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
    this.#baseDb.exec(
      "CREATE TABLE IF NOT EXISTS base_chunks (gen INTEGER NOT NULL, n INTEGER NOT NULL, at INTEGER NOT NULL, body BLOB NOT NULL, PRIMARY KEY (gen, n))",
    );
    this.#insertChunk = this.#baseDb.query("INSERT INTO base_chunks (gen, n, at, body) VALUES (?, ?, ?, ?)");
    this.#chunkAt = this.#baseDb.query<{ n: number; at: number; body: Uint8Array }, [number, number]>(
      "SELECT n, at, body FROM base_chunks WHERE gen = ? AND n = ?",
    );
    // A new tracker.sqlite (its ops lost) next to an old base.sqlite: that base alone cannot
    // say which op numbers this tracker issued after it, so start empty and catch up.
    if (!owner) this.#baseDb.exec("DELETE FROM meta");
    // Chunks of a base that was coming in when the process stopped: never made current.
    const gen = this.#currentGen();
    this.#baseDb.query("DELETE FROM base_chunks WHERE gen != ?").run(gen ?? -1);
    this.#nextGen = (gen ?? 0) + 1;
  }

  /** Everything persisted; a corrupt row is an error naming it (never a silently wrong state). */
  load(node: number): Persisted {
    const base = this.#migrateJsonBase() ?? this.#loadBase();
    // tracker.sqlite dropped the ops this base covers: it must be here, and not an older one.
    const covered = this.#db
      .query<{ value: string }, []>("SELECT value FROM meta WHERE key = 'base_stamp'")
      .get();
    if (covered && (!base || compareStamps(base.stamp, parseStoredStamp(covered.value)) < 0))
      throw new Error("base.sqlite is missing or older than the base tracker.sqlite was compacted into");
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
   * Replaces the base (compacted here), encoding it chunk by chunk straight into the table,
   * then drops every op it covers. An origin's ops are folded in sequence order, so seq <= vv
   * is folded. (Ops left behind by a crash between the two are below the base: ignored on
   * load, dropped at the next save.)
   */
  saveBase(base: BaseImage): void {
    const gen = this.#nextGen++;
    this.#baseDb.transaction(() => {
      let n = 0;
      let at = 0;
      for (const chunk of encodeBase(base, base.state)) {
        this.#insertChunk.run(gen, n++, at, chunk);
        at += chunk.byteLength;
      }
      this.#makeCurrent(gen, base, at);
    })();
    this.#dropCovered(base);
  }

  /** The stored base's stamp and size, if there is one. */
  storedBase(): StoredBase | undefined {
    const stamp = this.#meta("base_stamp");
    const bytes = this.#meta("base_bytes");
    if (stamp === undefined || bytes === undefined) return undefined;
    return { stamp: parseStoredStamp(stamp), bytes: Number(bytes) };
  }

  /**
   * The stored base's chunks from the one starting at byte `offset` on (from the first if no
   * chunk starts there), read one at a time. Ends early if another base replaces it meanwhile.
   */
  *baseChunks(offset = 0): Generator<{ offset: number; bytes: Uint8Array }> {
    const gen = this.#currentGen();
    if (gen === undefined) return;
    const start = offset > 0 ? this.#chunkStartingAt(gen, offset) : 0;
    for (let n = start ?? 0; ; n++) {
      const row = this.#chunkAt.get(gen, n);
      if (!row) return;
      yield { offset: row.at, bytes: row.body };
    }
  }

  /** Whether a chunk of the stored base starts at byte `offset` (a transfer can resume there). */
  hasChunkAt(offset: number): boolean {
    const gen = this.#currentGen();
    return gen !== undefined && this.#chunkStartingAt(gen, offset) !== undefined;
  }

  /** A generation for a base coming in from another tracker, chunk by chunk (putIncoming). */
  beginIncoming(): number {
    return this.#nextGen++;
  }

  /** Chunk `n` (at byte `offset`) of incoming base `gen`: kept, not current until adoptIncoming. */
  putIncoming(gen: number, n: number, offset: number, bytes: Uint8Array): void {
    this.#insertChunk.run(gen, n, offset, bytes);
  }

  /** Makes incoming base `gen`, whole and adopted, the stored one, and drops every op it covers. */
  adoptIncoming(gen: number, header: BaseHeader, bytes: number): void {
    this.#baseDb.transaction(() => this.#makeCurrent(gen, header, bytes))();
    this.#dropCovered(header);
  }

  /** Forgets the chunks of an incoming base that will not be adopted. */
  dropIncoming(gen: number): void {
    this.#baseDb.query("DELETE FROM base_chunks WHERE gen = ?").run(gen);
  }

  close(): void {
    this.#db.close();
    this.#baseDb.close();
  }

  #makeCurrent(gen: number, header: BaseHeader, bytes: number): void {
    const previous = this.#currentGen();
    this.#setMeta("base_gen", String(gen));
    this.#setMeta("base_stamp", JSON.stringify(header.stamp));
    this.#setMeta("base_bytes", String(bytes));
    if (previous !== undefined) this.#baseDb.query("DELETE FROM base_chunks WHERE gen = ?").run(previous);
  }

  #dropCovered(header: BaseHeader): void {
    this.#db.transaction(() => {
      this.#db
        .query("INSERT OR REPLACE INTO meta (key, value) VALUES ('base_stamp', ?)")
        .run(JSON.stringify(header.stamp));
      for (const [origin, seq] of header.vv)
        this.#db.query("DELETE FROM ops WHERE origin = ? AND seq <= ?").run(origin, seq);
    })();
  }

  #chunkStartingAt(gen: number, offset: number): number | undefined {
    return (
      this.#baseDb
        .query<{ n: number }, [number, number]>("SELECT n FROM base_chunks WHERE gen = ? AND at = ?")
        .get(gen, offset)?.n ?? undefined
    );
  }

  /** The stored base, read chunk by chunk into its state. */
  #loadBase(): BaseImage | undefined {
    const gen = this.#currentGen();
    if (gen === undefined) return undefined;
    const reader = new BaseReader();
    try {
      for (const { bytes } of this.baseChunks()) reader.add(bytes);
      return reader.finish();
    } catch (err) {
      throw new Error(
        `stored base is corrupt (${messageOf(err)}): restore the data dir or remove it to resync from the other trackers`,
      );
    }
  }

  /**
   * A data dir written before bases were chunks holds its base as one JSON (or older, CBOR)
   * document in table \`base\` of tracker.sqlite: read it the old way once, store it as chunks,
   * then drop the old table (a crash in between only means migrating it again).
   */
  #migrateJsonBase(): BaseImage | undefined {
    const legacy = this.#db
      .query<{ name: string }, []>("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'base'")
      .get();
    if (!legacy) return undefined;
    const row = this.#db.query<{ body: Uint8Array }, []>("SELECT body FROM base WHERE id = 1").get();
    let image: BaseImage | undefined;
    if (row) {
      const base = parseBase(asMap(decodeStored(row.body, "base", decodeJsonOrCbor), "stored base"));
      image = { stamp: base.stamp, vv: base.vv, state: State.fromSnapshot(base.state) };
      this.saveBase(image);
    }
    this.#db.exec("DROP TABLE base");
    return image;
  }

  #currentGen(): number | undefined {
    const gen = this.#meta("base_gen");
    return gen === undefined ? undefined : Number(gen);
  }

  #meta(key: string): string | undefined {
    return this.#baseDb.query<{ value: string }, [string]>("SELECT value FROM meta WHERE key = ?").get(key)
      ?.value;
  }

  #setMeta(key: string, value: string): void {
    this.#baseDb.query("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)").run(key, value);
  }
}

function parseStoredStamp(text: string): Stamp {
  const v: unknown = JSON.parse(text);
  const m = asMap(v, "stored base stamp");
  const wall = m.wall;
  const count = m.count;
  const node = m.node;
  if (typeof wall !== "number" || typeof count !== "number" || typeof node !== "number")
    throw new Error(
      `stored base stamp ${text} is corrupt: remove the data dir to resync from the other trackers`,
    );
  return { wall, count, node };
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
