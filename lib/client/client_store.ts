// Shell: what a client remembers in its data dir (bun:sqlite): the files each user shared from
// it, to re-share at login, and unfinished downloads, to resume at login.
import { Database } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

/** A file a user shared from this client, with the hashes that were registered. */
export interface ShareRecord {
  user: string;
  group: string;
  name: string;
  path: string;
  sizeBytes: number;
  mtimeMs: number;
  sha1: Uint8Array;
  pieces: Uint8Array;
}

/** An unfinished download, enough to resume it without the tracker's file entry. */
export interface DownloadRecord {
  user: string;
  group: string;
  name: string;
  dest: string;
  partPath: string;
  sizeBytes: number;
  sha1: Uint8Array;
  pieces: Uint8Array;
}

export class ClientStore {
  #db: Database;

  constructor(dataDir: string) {
    mkdirSync(dataDir, { recursive: true });
    this.#db = new Database(join(dataDir, "client.sqlite"), { create: true, strict: true });
    this.#db.exec("PRAGMA journal_mode = WAL");
    this.#db.exec(`CREATE TABLE IF NOT EXISTS shares (user TEXT, grp TEXT, name TEXT, path TEXT, sizeBytes INTEGER,
      mtimeMs REAL, sha1 BLOB, pieces BLOB, PRIMARY KEY (user, grp, name))`);
    this.#db.exec(`CREATE TABLE IF NOT EXISTS downloads (user TEXT, grp TEXT, name TEXT, dest TEXT, partPath TEXT,
      sizeBytes INTEGER, sha1 BLOB, pieces BLOB, PRIMARY KEY (user, grp, name))`);
  }

  shares(user: string): ShareRecord[] {
    return this.#db
      .query<ShareRow, [string]>("SELECT * FROM shares WHERE user = ? ORDER BY rowid")
      .all(user)
      .map(fromRow);
  }

  putShare(r: ShareRecord): void {
    this.#db
      .query(
        "INSERT OR REPLACE INTO shares (user, grp, name, path, sizeBytes, mtimeMs, sha1, pieces) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
      )
      .run(r.user, r.group, r.name, r.path, r.sizeBytes, r.mtimeMs, r.sha1, r.pieces);
  }

  deleteShare(user: string, group: string, name: string): void {
    this.#db.query("DELETE FROM shares WHERE user = ? AND grp = ? AND name = ?").run(user, group, name);
  }

  downloads(user: string): DownloadRecord[] {
    return this.#db
      .query<DownloadRow, [string]>("SELECT * FROM downloads WHERE user = ? ORDER BY rowid")
      .all(user)
      .map(fromRow);
  }

  putDownload(r: DownloadRecord): void {
    this.#db
      .query(
        "INSERT OR REPLACE INTO downloads (user, grp, name, dest, partPath, sizeBytes, sha1, pieces) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
      )
      .run(r.user, r.group, r.name, r.dest, r.partPath, r.sizeBytes, r.sha1, r.pieces);
  }

  deleteDownload(user: string, group: string, name: string): void {
    this.#db.query("DELETE FROM downloads WHERE user = ? AND grp = ? AND name = ?").run(user, group, name);
  }

  close(): void {
    this.#db.close();
  }
}

/** A stored row as a record: the column `grp` (GROUP is an SQL keyword) and plain byte arrays. */
function fromRow<R extends { grp: string; sha1: Uint8Array; pieces: Uint8Array }>({ grp, ...r }: R) {
  return { ...r, group: grp, sha1: new Uint8Array(r.sha1), pieces: new Uint8Array(r.pieces) };
}

type ShareRow = Omit<ShareRecord, "group"> & { grp: string };
type DownloadRow = Omit<DownloadRecord, "group"> & { grp: string };
