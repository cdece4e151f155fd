// Shell: the file commands (upload_file, list_files, download_file, show_downloads,
// stop_share) and what login and logout do to sharing: re-share, resume, stop serving.
import { existsSync, rmSync, type Stats, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import type { CoreOptions } from "../download/core.ts";
import { Download } from "../download/engine.ts";
import type { SeederTrust } from "../download/peer_link.ts";
import { messageOf } from "../errors.ts";
import type { TlsIdentity } from "../identity/key_file.ts";
import type { Catalog } from "../peer/catalog.ts";
import { Bitfield } from "../pieces/bitfield.ts";
import { PIECE_BYTES, pieceCount } from "../pieces/constants.ts";
import { type Fields, nameProblem } from "../wire/fields.ts";
import { MAX_PIECES, type Reply } from "../wire/tracker_protocol.ts";
import { type FileInfo, parseFileInfo, parseFileList } from "../wire/tracker_replies.ts";
import {
  CommandError,
  type FileCommand,
  type FileCommands,
  type Handlers,
  type LoggedIn,
  listing,
} from "./app.ts";
import type { ClientStore, ShareRecord } from "./client_store.ts";
import { formatBytes, formatDownload } from "./format.ts";
import { hashFile } from "./hash_file.ts";

/** The largest file a tracker takes: its piece-hash list is bounded (see MAX_PIECES). */
const MAX_SHARED_FILE_BYTES = MAX_PIECES * PIECE_BYTES;
/** A stale listing of one file is withdrawn at most this often (see Files.notServed). */
const HEAL_EVERY_MS = 10_000;
/** Stale listings are withdrawn at most one a second, whatever a flood of hellos names. */
const HEAL_GAP_MS = 1_000;
/** Files whose last withdrawal time is kept (a flood of names forgets them all at once). */
const MAX_HEALS_REMEMBERED = 1_000;
/** A re-share or resume no tracker answered at login is tried again this often. */
const RESTORE_RETRY_MS = 5_000;

export class Files implements FileCommands {
  #catalog: Catalog;
  #store: ClientStore;
  #selfPeer: string;
  #log: (line: string) => void;
  #progress: (line: string | undefined) => void;
  #downloads = new Map<string, Download>();
  #session: LoggedIn | undefined;
  /** Our key, and the key each seeder's session registered (from file_info replies). */
  #trust: SeederTrust;
  #seederKeys = new Map<string, string>();
  #downloadOptions: Partial<CoreOptions>;
  /**
   * Files whose share is being registered and not yet in the catalog (count per group/name):
   * a peer refused one of these meanwhile does not show a stale listing (see notServed).
   */
  #settingUp = new Map<string, number>();
  /** When each stale listing was last withdrawn, and when any was (see notServed). */
  #healedAt = new Map<string, number>();
  #lastHealMs = -Infinity;
  #restoreRetryMs: number;
  /** File names seen in list_files, for tab completion. */
  readonly seen = new Set<string>();

  constructor(options: {
    catalog: Catalog;
    store: ClientStore;
    selfPeer: string;
    identity: TlsIdentity;
    log: (line: string) => void;
    /** Shows a transient progress line on a terminal (undefined clears it); a no-op when piped. */
    progress: (line: string | undefined) => void;
    /** Download limits and timings other than the defaults. */
    downloads?: Partial<CoreOptions> | undefined;
    /** How often a re-share or resume that no tracker answered at login is tried again. */
    restoreRetryMs?: number;
  }) {
    this.#restoreRetryMs = options.restoreRetryMs ?? RESTORE_RETRY_MS;
    this.#downloadOptions = options.downloads ?? {};
    this.#catalog = options.catalog;
    this.#store = options.store;
    this.#selfPeer = options.selfPeer;
    this.#log = options.log;
    this.#progress = options.progress;
    this.#trust = {
      identity: options.identity,
      keyOf: (peer) => this.#seederKeys.get(peer),
      vouch: (peer, key) => this.#seederKeys.set(peer, key),
    };
  }

  /** Remembers the seeder keys of a file_info reply; its live peers. */
  #peersOf(info: FileInfo): string[] {
    for (const [peer, key] of Object.entries(info.keys)) this.#seederKeys.set(peer, key);
    return info.peers;
  }

  /** Downloads of this client, for `show_downloads` and the demo. */
  downloads(): Download[] {
    return [...this.#downloads.values()];
  }

  readonly handlers: Pick<Handlers, FileCommand> = {
    upload_file: ([path = "", group = ""], session) => this.#upload(session, path, group),
    list_files: async ([group = ""], session, emit) => {
      // Printed as the parts arrive, like list_groups.
      await listing(session, { t: "list_files", group }, (items) => {
        for (const f of parseFileList({ files: items })) {
          this.seen.add(f.name);
          emit(`${f.name} size=${f.sizeBytes} seeders=${f.seeders}`);
        }
      });
      return [];
    },
    download_file: ([group = "", name = "", destination = ""], session) =>
      this.#whileSettingUp(group, name, () => this.#download(session, group, name, destination)),
    show_downloads: async () => [...this.#downloads.values()].map(formatDownload),
    stop_share: ([group = "", name = ""], session) => this.#stopShare(session, group, name),
  };

  /**
   * Re-shares what this user shared from this client and resumes its unfinished downloads, one
   * line each. One that no tracker answered for (all down, or catching up) is tried again every
   * `restoreRetryMs` while this session lasts: a complete copy on disk must not go unserved for
   * a whole session because the trackers were away at the moment of login.
   */
  async afterLogin(session: LoggedIn): Promise<string[]> {
    this.#session = session;
    const lines: string[] = [];
    // Why no tracker answered, once one did not: the rest wait for the background retries
    // rather than for a request timeout each.
    let away: string | undefined;
    // `attempt`: its line on success; a CommandError when a tracker or the file says no.
    const restore = async (failed: string, attempt: () => Promise<string>) => {
      if (away === undefined) {
        try {
          return await attempt();
        } catch (err) {
          if (err instanceof CommandError) return `warning: ${failed}: ${err.message}`;
          away = messageOf(err);
        }
      }
      this.#retryLater(session, failed, attempt);
      return `warning: ${failed} yet: ${away}; trying again every ${this.#restoreRetryMs / 1000} s`;
    };
    for (const share of this.#store.shares(session.user))
      lines.push(
        await restore(`not re-sharing ${share.name} in ${share.group}`, () => this.#reshare(session, share)),
      );
    for (const record of this.#store.downloads(session.user)) {
      if (this.#downloads.get(`${record.group}/${record.name}`)?.state === "downloading") continue;
      lines.push(
        await restore(`not resuming ${record.name} from ${record.group}`, () =>
          this.#resume(session, record),
        ),
      );
    }
    return lines;
  }

  /** Tries `attempt` again every restoreRetryMs while `session` lasts and no tracker answers; logs the outcome. */
  #retryLater(session: LoggedIn, failed: string, attempt: () => Promise<string>): void {
    setTimeout(async () => {
      if (this.#session !== session) return; // logged out: the next login tries again
      try {
        this.#log(await attempt());
      } catch (err) {
        if (err instanceof CommandError) this.#log(`${failed}: ${err.message}`);
        else this.#retryLater(session, failed, attempt);
      }
    }, this.#restoreRetryMs);
  }

  /** Registers a share of the store under `session` and serves it. */
  #reshare(session: LoggedIn, share: ShareRecord): Promise<string> {
    return this.#whileSettingUp(share.group, share.name, async () => {
      const problem = changedSince(share);
      if (problem) throw new CommandError(`${problem}; run upload_file again`);
      const reply = await register(session, share);
      if (!reply.ok) throw new CommandError(reply.reason);
      // A retry that stop_share, leave_group, logout or a new upload_file overtook.
      if (!this.#current(session, share, this.#store.shares(session.user)))
        throw new CommandError("no longer shared from this client");
      if (!this.#catalog.get(share.group, share.name)) this.#serveWhole(share);
      return `re-sharing ${share.name} in ${share.group}`;
    });
  }

  /** Registers an unfinished download of the store under `session` (it serves what it has) and resumes it. */
  #resume(session: LoggedIn, record: ReturnType<ClientStore["downloads"]>[number]): Promise<string> {
    return this.#whileSettingUp(record.group, record.name, async () => {
      const reply = await register(session, record);
      if (!reply.ok) throw new CommandError(reply.reason);
      if (
        !this.#current(session, record, this.#store.downloads(session.user)) ||
        this.#downloads.get(`${record.group}/${record.name}`)?.state === "downloading"
      )
        throw new CommandError("no longer an unfinished download of this client");
      const d = this.#newDownload(session, record);
      await d.start();
      return `resuming download of ${record.name} from ${record.group}: ${d.resumedPieces} of ${pieceCount(record.sizeBytes)} pieces already verified`;
    });
  }

  /** Whether `session` is still ours and `records` (of the store) still hold `file`. */
  #current(
    session: LoggedIn,
    file: { group: string; name: string },
    records: readonly { group: string; name: string }[],
  ): boolean {
    return this.#session === session && records.some((r) => r.group === file.group && r.name === file.name);
  }

  async beforeLogout(): Promise<void> {
    for (const d of this.#downloads.values()) if (d.state === "downloading") d.stop();
    this.#downloads.clear();
    this.#catalog.clear();
    this.#session = undefined;
  }

  async leftGroup(group: string, session: LoggedIn): Promise<void> {
    for (const entry of this.#catalog.entries())
      if (entry.group === group) this.#forget(session, group, entry.name);
    for (const record of this.#store.downloads(session.user))
      if (record.group === group) this.#forget(session, group, record.name);
  }

  /**
   * Our peer server refused a peer asking for `group/name`, which we do not serve: if a tracker
   * still lists us as its sharer, a withdrawal never reached it (a download that failed, or an
   * upload refused, while no tracker answered), and every downloader of the file would keep
   * dialling us. Withdraws the listing (an unshare of what this session does not share is
   * refused, harmlessly), at most once per file in HEAL_EVERY_MS and one file a second, and
   * never while the file is being set up here (registered, not yet served): a stranger naming
   * files costs at most one tracker request a second.
   */
  notServed(group: string, name: string): void {
    const session = this.#session;
    const key = `${group}/${name}`;
    if (!session || this.#settingUp.has(key) || this.#catalog.get(group, name)) return;
    const now = Date.now();
    if (now - (this.#healedAt.get(key) ?? -Infinity) < HEAL_EVERY_MS) return;
    if (now - this.#lastHealMs < HEAL_GAP_MS) return; // the next refused dial tries again
    this.#lastHealMs = now;
    if (this.#healedAt.size >= MAX_HEALS_REMEMBERED) this.#healedAt.clear();
    this.#healedAt.set(key, now);
    this.#log(
      `${group}/${name}: a peer asked for it, but this client does not serve it: withdrawing it from the trackers' list`,
    );
    this.#withdraw(session, group, name);
  }

  /** Runs `fn`, which registers `group/name` with the tracker and puts it in the catalog, marked as being set up. */
  async #whileSettingUp<T>(group: string, name: string, fn: () => Promise<T>): Promise<T> {
    const key = `${group}/${name}`;
    this.#settingUp.set(key, (this.#settingUp.get(key) ?? 0) + 1);
    try {
      return await fn();
    } finally {
      const left = (this.#settingUp.get(key) ?? 1) - 1;
      if (left > 0) this.#settingUp.set(key, left);
      else this.#settingUp.delete(key);
    }
  }

  /** Stops serving and fetching `group/name` here and forgets it (the part file too). */
  #forget(session: LoggedIn, group: string, name: string): void {
    const key = `${group}/${name}`;
    const d = this.#downloads.get(key);
    if (d?.state === "downloading") {
      d.stop();
      this.#downloads.delete(key);
      rmSync(d.spec.partPath, { force: true });
    }
    this.#catalog.remove(group, name);
    this.#store.deleteShare(session.user, group, name);
    this.#store.deleteDownload(session.user, group, name);
  }

  async #upload(session: LoggedIn, path: string, group: string): Promise<string[]> {
    const full = resolve(path);
    const name = basename(full);
    const problem = nameProblem(name);
    if (problem) throw new CommandError(`file name "${name}" ${problem}: rename the file`);
    const before = statOrThrow(full);
    if (before.size > MAX_SHARED_FILE_BYTES)
      throw new CommandError(
        `cannot share ${path}: ${before.size} bytes, over the ${formatBytes(MAX_SHARED_FILE_BYTES)} (${MAX_SHARED_FILE_BYTES} bytes) a tracker takes`,
      );
    const show = (done: number) =>
      this.#progress(`hashing ${name}: ${Math.floor((100 * done) / Math.max(before.size, 1))}%`);
    const digest = await hashFile(full, show)
      .catch((err: Error) => {
        throw new CommandError(`cannot read ${path}: ${err.message}`);
      })
      .finally(() => this.#progress(undefined));
    const after = statOrThrow(full);
    if (after.mtimeMs !== before.mtimeMs || after.size !== digest.sizeBytes)
      throw new CommandError(`${path} changed while it was being hashed: try again`);
    await this.#whileSettingUp(group, name, async () => {
      const record: ShareRecord = {
        user: session.user,
        group,
        name,
        path: full,
        sizeBytes: digest.sizeBytes,
        mtimeMs: after.mtimeMs,
        sha1: digest.sha1,
        pieces: digest.pieces,
      };
      const reply = await register(session, record);
      if (!reply.ok) throw new CommandError(reply.reason);
      this.#store.putShare(record);
      this.#serveWhole(record);
    });
    return [
      `sharing ${name} in ${group} (${formatBytes(digest.sizeBytes)}, ${pieceCount(digest.sizeBytes)} pieces, sha1 ${Buffer.from(digest.sha1).toString("hex")})`,
    ];
  }

  async #download(session: LoggedIn, group: string, name: string, destination: string): Promise<string[]> {
    const key = `${group}/${name}`;
    if (this.#downloads.get(key)?.state === "downloading")
      throw new CommandError(`already downloading ${name} from ${group}: see show_downloads`);
    if (this.#catalog.get(group, name))
      throw new CommandError(`you already share ${name} in ${group} from this client`);
    const dest = destinationFor(destination, name);
    for (const other of this.#downloads.values()) {
      if (other.state === "downloading" && other.spec.dest === dest) {
        throw new CommandError(
          `${dest} is already the destination of ${other.spec.name} from ${other.spec.group}: choose another`,
        );
      }
    }
    const info = parseFileInfo(await call(session, { t: "file_info", group, name }));
    const peers = this.#peersOf(info);
    if (peers.length === 0)
      throw new CommandError(`no live peer shares ${name} in ${group} right now: try again later`);
    const record = {
      user: session.user,
      group,
      name,
      dest,
      partPath: join(dirname(dest), `.${basename(dest)}.part`),
      sizeBytes: info.sizeBytes,
      sha1: info.sha1,
      pieces: info.pieces,
    };
    // A downloader is a seeder of what it has: register at once, serve pieces as they verify.
    const shared = await register(session, record);
    if (!shared.ok) throw new CommandError(shared.reason);
    this.#store.putDownload(record);
    const d = this.#newDownload(session, record);
    await d.start().catch((err: Error) => {
      this.#store.deleteDownload(session.user, group, name);
      this.#downloads.delete(key);
      this.#withdraw(session, group, name);
      throw new CommandError(`cannot write ${record.partPath}: ${err.message}`);
    });
    return [
      `downloading ${name} from ${group} to ${dest} (${formatBytes(record.sizeBytes)}, ${peers.length} peer${peers.length === 1 ? "" : "s"})`,
    ];
  }

  async #stopShare(session: LoggedIn, group: string, name: string): Promise<string[]> {
    await call(session, { t: "unshare", group, name }, true);
    const running = this.#downloads.get(`${group}/${name}`)?.state === "downloading";
    this.#forget(session, group, name);
    return [
      running
        ? `stopped sharing ${name} in ${group} and cancelled its download`
        : `stopped sharing ${name} in ${group}`,
    ];
  }

  #newDownload(session: LoggedIn, record: ReturnType<ClientStore["downloads"]>[number]): Download {
    const d = new Download(record, {
      catalog: this.#catalog,
      selfPeer: this.#selfPeer,
      trust: this.#trust,
      core: this.#downloadOptions,
      session: () => (this.#session === session ? session.sessionId : undefined),
      fetchPeers: async () =>
        this.#peersOf(
          parseFileInfo(await call(session, { t: "file_info", group: record.group, name: record.name })),
        ),
      onFailed: () => {
        // It will not serve the file: withdraw it, and forget it (download_file starts it again).
        this.#withdraw(session, record.group, record.name);
        this.#store.deleteDownload(record.user, record.group, record.name);
      },
      onComplete: () => {
        this.#store.deleteDownload(record.user, record.group, record.name);
        const mtimeMs = statSync(record.dest).mtimeMs;
        this.#store.putShare({
          user: record.user,
          group: record.group,
          name: record.name,
          path: record.dest,
          sizeBytes: record.sizeBytes,
          mtimeMs,
          sha1: record.sha1,
          pieces: record.pieces,
        });
      },
      log: this.#log,
    });
    this.#downloads.set(`${record.group}/${record.name}`, d);
    return d;
  }

  /** Tells the tracker this client will not serve `group/name` after all (best effort: no reply awaited). */
  #withdraw(session: LoggedIn, group: string, name: string): void {
    void session.link
      .request({ t: "unshare", group, name, rid: session.link.newRid() })
      .catch((err: Error) => {
        // Still listed as ours: the next peer our server refuses for it withdraws it (notServed).
        this.#log(`${group}/${name}: could not withdraw it from the trackers' list: ${err.message}`);
      });
  }

  #serveWhole(share: ShareRecord): void {
    const have = new Bitfield(pieceCount(share.sizeBytes));
    for (let i = 0; i < have.size; i++) have.set(i);
    this.#catalog.add({
      group: share.group,
      name: share.name,
      path: share.path,
      sizeBytes: share.sizeBytes,
      have,
      origin: true,
    });
  }
}

/** Registers `file` as shared by this session (a retried request is applied once): the tracker's answer. */
async function register(
  session: LoggedIn,
  file: { group: string; name: string; sizeBytes: number; sha1: Uint8Array; pieces: Uint8Array },
): Promise<Reply> {
  const { group, name, sizeBytes, sha1, pieces } = file;
  const { reply } = await session.link.request({
    t: "share",
    group,
    name,
    sizeBytes,
    sha1,
    pieces,
    rid: session.link.newRid(),
  });
  return reply;
}

/** One request through the session's link: the reply's data, or a CommandError with the tracker's reason. */
async function call(session: LoggedIn, body: { t: string } & Fields, write = false): Promise<Fields> {
  const { reply } = await session.link.request(write ? { ...body, rid: session.link.newRid() } : body);
  if (!reply.ok) throw new CommandError(reply.reason);
  return reply.data;
}

/** Where a download lands: inside `destination` if it is a directory, else at that path. */
function destinationFor(destination: string, name: string): string {
  const full = resolve(destination);
  const target = existsSync(full) && statSync(full).isDirectory() ? join(full, name) : full;
  if (existsSync(target))
    throw new CommandError(`${target} already exists: choose another destination or remove it`);
  const parent = dirname(target);
  if (!existsSync(parent) || !statSync(parent).isDirectory())
    throw new CommandError(`directory ${parent} does not exist: create it first`);
  return target;
}

function statOrThrow(path: string): Stats {
  let st: Stats;
  try {
    st = statSync(path);
  } catch {
    throw new CommandError(`no file ${path}: check the path`);
  }
  if (st.isDirectory()) throw new CommandError(`${path} is a directory: upload_file shares one file`);
  if (!st.isFile()) throw new CommandError(`${path} is not a regular file`);
  return st;
}

function changedSince(share: ShareRecord): string | undefined {
  try {
    const st = statSync(share.path);
    if (st.size !== share.sizeBytes || st.mtimeMs !== share.mtimeMs)
      return `${share.path} changed since it was shared`;
  } catch {
    return `${share.path} no longer exists`;
  }
  return undefined;
}
