// Shell: the tracker's durable operation log in bun:sqlite (WAL), and its compacted base.
// An operation is acknowledged only after append() returns: it is then in the WAL file,
// which survives a SIGKILL of the process.
import { Database } from "bun:sqlite";
import { existsSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { MIN_NODE_ID } from "../config.ts";
import { messageOf } from "../errors.ts";
import type { BaseImage, Op } from "../replica/replica.ts";
import { compareStamps, type Stamp } from "../replica/stamp.ts";
import { State } from "../replica/state.ts";
import { type BaseHeader, BaseReader, encodeBase } from "../wire/base_stream.ts";
import { decodeJsonOrCbor, decodeMessage, encodeValue } from "../wire/codec.ts";
import { asMap } from "../wire/fields.ts";
import { parseBase, parseOp } from "../wire/sync_protocol.ts";
import { ChunkFileWriter, chunkStartsAt, fsyncDir, readChunks } from "./chunk_file.ts";

/** What a tracker persisted: enough to rebuild its replica exactly. */
export interface Persisted {
  node: number;
  base?: BaseImage;
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

/** The stored base: which stamp, and how many bytes of chunks. */
export interface StoredBase {
  stamp: Stamp;
  bytes: number;
}

/**
 * The on-disk log of one tracker: its ops in `tracker.sqlite`, its compacted base in
 * `base-<generation>.chunks`, the chunks it travels in (lib/wire/base_stream.ts) one after
 * another (lib/tracker/chunk_file.ts). A new base (saved here or coming in from another tracker)
 * is written to the next generation's file, then made current in the same small SQLite
 * transaction that drops the ops it covers, so a restart always finds one whole base, and a
 * base is written, read, sent and loaded a chunk at a time.
 */
export class Store {
  #db: Database;
  #dir: string;
  #fsync: boolean;
  #insert;
  #nextGen: number;
  #incoming = new Map<number, ChunkFileWriter>();

  /**
   * Opens (creating if needed) `<dataDir>/tracker.sqlite` for node id `node`; refuses a data dir
   * of another tracker. One bound to an id this same line had (see StoreOptions) becomes this
   * node's: its ops keep their old origin, one no tracker makes ops of any more (README
   * "Adding and removing trackers" says why nothing is lost or reused).
   */
  constructor(dataDir: string, node: number, options: StoreOptions = {}) {
    mkdirSync(dataDir, { recursive: true });
    this.#dir = dataDir;
    this.#fsync = options.fsync ?? false;
    this.#db = new Database(join(dataDir, "tracker.sqlite"), { create: true, strict: true });
    this.#db.exec("PRAGMA journal_mode = WAL");
    // NORMAL: a commit is in the WAL before we acknowledge (safe against a killed process);
    // FULL adds an fsync per commit, for power loss.
    this.#db.exec(`PRAGMA synchronous = ${this.#fsync ? "FULL" : "NORMAL"}`);
    this.#db.exec("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
    this.#db.exec(
      "CREATE TABLE IF NOT EXISTS ops (origin INTEGER NOT NULL, seq INTEGER NOT NULL, body BLOB NOT NULL, PRIMARY KEY (origin, seq))",
    );
    this.#claim(dataDir, node, options);
    this.#insert = this.#db.query("INSERT OR IGNORE INTO ops (origin, seq, body) VALUES (?, ?, ?)");
    // Base files of no use: one that was coming in when the process stopped (never made
    // current), one replaced just before, or one next to a new tracker.sqlite (whose ops are lost).
    const gen = this.#currentGen();
    let highest = gen ?? 0;
    for (const name of readdirSync(dataDir)) {
      const found = name.match(/^base-(\d+)\.chunks$/)?.[1];
      if (found === undefined || Number(found) === gen) continue;
      highest = Math.max(highest, Number(found));
      rmSync(join(dataDir, name), { force: true });
    }
    this.#nextGen = highest + 1;
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
    const base = this.#migrateJsonBase() ?? this.#loadBase();
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
   * Replaces the base (compacted here), encoding it chunk by chunk straight into its file, and
   * drops every op it covers. An origin's ops are folded in sequence order, so seq <= vv is folded.
   */
  saveBase(base: BaseImage): void {
    const gen = this.beginIncoming();
    try {
      for (const chunk of encodeBase(base, base.state)) this.putIncoming(gen, chunk);
    } catch (err) {
      this.dropIncoming(gen);
      throw err;
    }
    this.adoptIncoming(gen, base);
  }

  /** The stored base's stamp and size, if there is one. */
  storedBase(): StoredBase | undefined {
    const stamp = this.#meta("base_stamp");
    const bytes = this.#meta("base_bytes");
    if (stamp === undefined || bytes === undefined) return undefined;
    return { stamp: parseStoredStamp(stamp), bytes: Number(bytes) };
  }

  /**
   * The stored base's chunks from the one starting at stream offset `offset` on (from the first
   * if no chunk starts there), read one at a time from the file as it was when this started.
   */
  *baseChunks(offset = 0): Generator<{ offset: number; bytes: Uint8Array }> {
    const gen = this.#currentGen();
    if (gen === undefined) return;
    yield* readChunks(this.#file(gen), offset > 0 && this.hasChunkAt(offset) ? offset : 0);
  }

  /** Whether a chunk of the stored base starts at stream offset `offset` (a transfer can resume there). */
  hasChunkAt(offset: number): boolean {
    const gen = this.#currentGen();
    return gen !== undefined && chunkStartsAt(this.#file(gen), offset);
  }

  /** A generation for a new base (saved here, or coming in from another tracker), chunk by chunk. */
  beginIncoming(): number {
    const gen = this.#nextGen++;
    this.#incoming.set(gen, new ChunkFileWriter(this.#file(gen)));
    return gen;
  }

  /** The next chunk of base `gen`: kept, not current until adoptIncoming. */
  putIncoming(gen: number, bytes: Uint8Array): void {
    const writer = this.#incoming.get(gen);
    if (!writer) throw new Error(`no base ${gen} coming in`);
    writer.append(bytes);
  }

  /** Makes base `gen`, whole, the stored one, and drops every op it covers, in one transaction. */
  adoptIncoming(gen: number, header: BaseHeader): void {
    const writer = this.#incoming.get(gen);
    if (!writer) throw new Error(`no base ${gen} coming in`);
    this.#incoming.delete(gen);
    writer.close(this.#fsync);
    if (this.#fsync) fsyncDir(this.#dir);
    const previous = this.#currentGen();
    this.#db.transaction(() => {
      this.#setMeta("base_gen", String(gen));
      this.#setMeta("base_stamp", JSON.stringify(header.stamp));
      this.#setMeta("base_bytes", String(writer.bytes));
      for (const [origin, seq] of header.vv)
        this.#db.query("DELETE FROM ops WHERE origin = ? AND seq <= ?").run(origin, seq);
    })();
    if (previous !== undefined && previous !== gen) rmSync(this.#file(previous), { force: true });
  }

  /** Forgets a base that will not be adopted, and its file. */
  dropIncoming(gen: number): void {
    this.#incoming.get(gen)?.close();
    this.#incoming.delete(gen);
    rmSync(this.#file(gen), { force: true });
  }

  close(): void {
    for (const gen of [...this.#incoming.keys()]) this.dropIncoming(gen);
    this.#db.close();
  }

  #file(gen: number): string {
    return join(this.#dir, `base-${gen}.chunks`);
  }

  /** The stored base, read chunk by chunk into its state. */
  #loadBase(): BaseImage | undefined {
    const gen = this.#currentGen();
    if (gen === undefined) return undefined;
    if (!existsSync(this.#file(gen)))
      throw new Error(
        `stored base base-${gen}.chunks is missing: restore the data dir or remove it to resync from the other trackers`,
      );
    const reader = new BaseReader();
    try {
      for (const { bytes } of this.baseChunks()) reader.add(bytes);
      return reader.finish();
    } catch (err) {
      throw new Error(
        `stored base base-${gen}.chunks is corrupt (${messageOf(err)}): restore the data dir or remove it to resync from the other trackers`,
      );
    }
  }

  /**
   * A data dir written before bases were chunks holds its base as one JSON (or older, CBOR)
   * document in table \`base\`: read it the old way once, store it as chunks, then drop the
   * old table (a crash in between only means migrating it again).
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
    return this.#db.query<{ value: string }, [string]>("SELECT value FROM meta WHERE key = ?").get(key)
      ?.value;
  }

  #setMeta(key: string, value: string): void {
    this.#db.query("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)").run(key, value);
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
