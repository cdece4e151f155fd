// spec/unit/tracker/store.spec.ts: the compacted base in the store, a file of its chunks: saved
// and loaded back whole, read from any chunk on (a resumed transfer), an incoming base kept
// aside until adopted, a changed, cut or lost file refused, and a data dir with the old
// one-document JSON base migrated on first start.
import { Database } from "bun:sqlite";
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Replica } from "../../../lib/replica/replica.ts";
import { Store } from "../../../lib/tracker/store.ts";
import { BaseReader } from "../../../lib/wire/base_stream.ts";
import { encodeJsonValue } from "../../../lib/wire/codec.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const baseFiles = (dir: string) => readdirSync(dir).filter((f) => f.endsWith(".chunks"));
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), "store-spec-"));
  dirs.push(d);
  return d;
};

/** A one-tracker replica with users, a group and three files of 20,000 pieces (1.2 MB of hashes), compacted. */
function compacted(compact = true): Replica {
  const r = new Replica(1, [1]);
  let now = 1_000;
  const must = (change: Parameters<Replica["local"]>[0]) => {
    const { outcome } = r.local(change, now++);
    expect(outcome).toEqual({ ok: true });
  };
  must({ kind: "create_user", user: "u", hash: "h" });
  must({ kind: "login", user: "u", hash: "h", session: "s", peer: "127.0.0.1:1", key: "k" });
  must({ kind: "create_group", user: "u", session: "s", group: "g" });
  for (let f = 0; f < 3; f++) {
    const pieces = new Uint8Array(20 * 20_000).map((_, i) => (i + f) & 255);
    const file = { name: `f${f}`, sizeBytes: 20_000 * 512 * 1024, sha1: new Uint8Array(20).fill(f), pieces };
    must({ kind: "share", user: "u", session: "s", group: "g", file });
  }
  if (compact) r.compact();
  return r;
}

describe("the stored base", () => {
  test("is saved as chunks and loaded back whole by the next start, with the ops it covers dropped", () => {
    const dir = tempDir();
    const r = compacted(false);
    const store = new Store(dir, 1);
    store.append([...r.ops]);
    expect(r.compact().length).toBe(6);
    store.saveBase(r.baseImage());
    const stored = store.storedBase();
    expect(stored?.stamp).toEqual(r.baseStamp);
    const chunks = [...store.baseChunks()];
    expect(chunks.length).toBeGreaterThan(1);
    expect(chunks.reduce((n, c) => n + c.bytes.byteLength, 0)).toBe(stored?.bytes ?? -1);
    store.close();
    const again = new Store(dir, 1).load(1);
    expect(again.base?.stamp).toEqual(r.baseStamp);
    expect(again.base?.vv).toEqual(r.baseVersionVector());
    expect(again.base?.state.snapshot()).toEqual(r.state.snapshot());
    expect(again.ops).toEqual([]);
  });

  test("is read from any chunk on, so a cut transfer resumes there", () => {
    const store = new Store(tempDir(), 1);
    const r = compacted();
    store.saveBase(r.baseImage());
    const all = [...store.baseChunks()];
    const second = all[1]!;
    expect(store.hasChunkAt(second.offset)).toBe(true);
    expect(store.hasChunkAt(second.offset + 1)).toBe(false);
    const reader = new BaseReader();
    reader.add(all[0]!.bytes);
    const rest = [...store.baseChunks(reader.bytes)];
    expect(rest.map((c) => c.offset)).toEqual(all.slice(1).map((c) => c.offset));
    for (const c of rest) reader.add(c.bytes);
    expect(reader.finish().state.snapshot()).toEqual(r.state.snapshot());
  });

  test("an incoming base stays aside until adopted, and is dropped if the process stops first", () => {
    const dir = tempDir();
    const source = compacted();
    const sender = new Store(tempDir(), 1);
    sender.saveBase(source.baseImage());
    const chunks = [...sender.baseChunks()];
    const store = new Store(dir, 2);
    const gen = store.beginIncoming();
    store.putIncoming(gen, chunks[0]!.bytes);
    expect(store.storedBase()).toBeUndefined();
    expect(baseFiles(dir)).toEqual([`base-${gen}.chunks`]);
    const reopened = new Store(dir, 2); // as after a crash: the first one never closed
    expect(baseFiles(dir)).toEqual([]);
    expect(reopened.load(2).base).toBeUndefined();
    const gen2 = reopened.beginIncoming();
    for (const c of chunks) reopened.putIncoming(gen2, c.bytes);
    reopened.adoptIncoming(gen2, source.baseImage());
    expect(reopened.storedBase()).toEqual(sender.storedBase()!);
    reopened.saveBase(source.baseImage()); // a newer generation replaces the file
    expect(baseFiles(dir)).toEqual([`base-${gen2 + 1}.chunks`]);
    reopened.close();
    store.close();
    expect(new Store(dir, 2).load(2).base?.state.snapshot()).toEqual(source.state.snapshot());
  });

  test("a changed, cut or lost base file is refused at start with what to do", () => {
    const dir = tempDir();
    const store = new Store(dir, 1);
    store.saveBase(compacted().baseImage());
    store.close();
    const [name] = baseFiles(dir);
    const path = join(dir, name!);
    const good = readFileSync(path);
    const changed = Buffer.from(good); // a copy (a Buffer's slice() is a view)
    changed[changed.length - 100] = (changed[changed.length - 100] ?? 0) ^ 1; // a piece hash byte: still CBOR, still in place
    writeFileSync(path, changed);
    expect(() => new Store(dir, 1).load(1)).toThrow(
      /stored base base-\d+.chunks is corrupt \(Base is corrupt: its CRC-32 does not match its bytes\): restore the data dir or remove it/,
    );
    writeFileSync(path, good.subarray(0, good.length - 1000));
    expect(() => new Store(dir, 1).load(1)).toThrow(/is corrupt \(chunk file .* ends inside the chunk/);
    rmSync(path);
    expect(() => new Store(dir, 1).load(1)).toThrow(
      /stored base base-\d+.chunks is missing: restore the data dir/,
    );
    writeFileSync(path, good);
    expect(new Store(dir, 1).load(1).base).toBeDefined();
  });

  test("a data dir with the old JSON base is migrated to chunks on first start, losing nothing", () => {
    const dir = tempDir();
    const r = compacted();
    // The tables as the version before wrote them: the base as one JSON document.
    const old = new Database(join(dir, "tracker.sqlite"), { create: true, strict: true });
    old.exec("PRAGMA journal_mode = WAL");
    old.exec("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
    old.exec(
      "CREATE TABLE ops (origin INTEGER NOT NULL, seq INTEGER NOT NULL, body BLOB NOT NULL, PRIMARY KEY (origin, seq))",
    );
    old.exec("CREATE TABLE base (id INTEGER PRIMARY KEY CHECK (id = 1), body BLOB NOT NULL)");
    old.query("INSERT INTO meta (key, value) VALUES ('node', '1')").run();
    old.query("INSERT INTO base (id, body) VALUES (1, ?)").run(encodeJsonValue(r.base()));
    old.close();
    const first = new Store(dir, 1);
    const loaded = first.load(1);
    expect(loaded.base?.state.snapshot()).toEqual(r.state.snapshot());
    expect(loaded.base?.stamp).toEqual(r.baseStamp);
    expect(first.storedBase()?.stamp).toEqual(r.baseStamp);
    first.close();
    const raw = new Database(join(dir, "tracker.sqlite"));
    expect(raw.query("SELECT name FROM sqlite_master WHERE name = 'base'").get()).toBeNull();
    raw.close();
    expect(new Store(dir, 1).load(1).base?.state.snapshot()).toEqual(r.state.snapshot()); // now from chunks
  });

  test("a base file next to a new tracker.sqlite (its ops lost) is dropped: the tracker starts empty", () => {
    const dir = tempDir();
    const store = new Store(dir, 1);
    store.saveBase(compacted().baseImage());
    store.close();
    for (const suffix of ["", "-wal", "-shm"]) rmSync(join(dir, `tracker.sqlite${suffix}`), { force: true });
    // The base alone cannot say which op numbers this tracker issued after it: catch up instead.
    expect(new Store(dir, 1).load(1)).toEqual({ node: 1, ops: [] });
    expect(baseFiles(dir)).toEqual([]);
  });
});
