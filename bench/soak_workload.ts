// The soak's clients: each actor is one ./client logged in as one user, doing random group and
// file work, and writing every acknowledged operation into the shared Ledger. Verifies every
// completed download against its source at once. Never kills or starts trackers.

import { appendFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { messageOf } from "../lib/errors.ts";
import type { ClientProcess, RunResult } from "../spec/helpers/client_process.ts";
import { randomFile, sha1File } from "../spec/helpers/files.ts";
import { type Account, type GroupLine, parseGroupLine } from "./soak_audit.ts";
import type { Rng } from "./soak_rng.ts";

/** One shared file, as its uploader made it. */
export interface Upload {
  group: string;
  name: string;
  sha1: string;
  uploader: string;
  /** The uploader created `group` (a stable group): the upload must still be listed at the end. */
  mustStay: boolean;
  /** upload_file printed success and the uploader has not left the group since: it shares it. */
  acked: boolean;
}

/** One download an actor started. */
export interface DownloadRecord {
  actor: string;
  group: string;
  name: string;
  dest: string;
  sha1: string;
  /** As show_downloads says, or X: cancelled because the downloader left the group. */
  state: "D" | "C" | "F" | "X";
  /** The last show_downloads line seen for it. */
  shown?: string;
  verified: boolean;
  /** stop_share ran for it after it completed, or its actor left the group: no copy for others. */
  unshared?: true;
}

/** Everything the actors did that printed success, plus what went wrong. */
export class Ledger {
  /** Acknowledged operations by command name. */
  readonly acked = new Map<string, number>();
  /** Refused commands (`error:` lines) by reason, ids and names elided. */
  readonly refused = new Map<string, number>();
  readonly accounts: Account[] = [];
  /** Conflict-prone user ids whose create_user printed success: each must exist at the end. */
  readonly conflictUsers = new Set<string>();
  /** Stable groups (never left by their creator): group id -> creator. */
  readonly stableGroups = new Map<string, string>();
  readonly uploads = new Map<string, Upload>();
  readonly downloads: DownloadRecord[] = [];
  /** Corrupted or missing downloads, one line each. */
  readonly corrupted: string[] = [];
  /** Commands the harness gave up on (no output in 30 s), and clients that died. */
  readonly stuck: string[] = [];
  readonly crashed: string[] = [];
  sessionsLost = 0;
  /** The first answers that showed a lost session: which command, which tracker, what it said. */
  readonly sessionsLostLines: string[] = [];

  count(map: Map<string, number>, key: string): void {
    map.set(key, (map.get(key) ?? 0) + 1);
  }

  get operations(): number {
    return [...this.acked.values()].reduce((a, b) => a + b, 0);
  }
}

/** How many of each an actor makes at most, so the state and the audit stay small. */
const MAX_STABLE_GROUPS = 3;
const MAX_UPLOADS = 20;
const MAX_FILE_BYTES = 1_536 * 1024; // up to 3 pieces of 512 KiB
const CHURN_GROUPS = 4;
const CONFLICT_USERS = 6;

/** One client and its user, acting at random. */
export class Actor {
  readonly user: string;
  readonly password: string;
  readonly client: ClientProcess;
  #rng: Rng;
  #ledger: Ledger;
  #filesDir: string;
  #downloadsDir: string;
  /** The last list_groups seen through this client. */
  #groups = new Map<string, GroupLine>();
  #memberOf = new Set<string>();
  /** Groups asked to join since the last refresh (pending, or refused). */
  #asked = new Set<string>();
  #stable = new Set<string>();
  #uploads = 0;
  #downloaded = new Set<string>();
  #serial = 0;

  constructor(options: {
    user: string;
    client: ClientProcess;
    rng: Rng;
    ledger: Ledger;
    filesDir: string;
    downloadsDir: string;
  }) {
    this.user = options.user;
    this.password = `pw-${options.user}`;
    this.client = options.client;
    this.#rng = options.rng;
    this.#ledger = options.ledger;
    this.#filesDir = options.filesDir;
    this.#downloadsDir = options.downloadsDir;
  }

  get alive(): boolean {
    return this.client.running;
  }

  /** Creates the account and logs in (before any fault is injected). */
  async setUp(): Promise<void> {
    await this.client.ok(`create_user ${this.user} ${this.password}`);
    await this.client.ok(`login ${this.user} ${this.password}`);
    this.#ledger.accounts.push({ user: this.user, password: this.password, deep: true });
    this.#ledger.count(this.#ledger.acked, "create_user");
    this.#ledger.count(this.#ledger.acked, "login");
  }

  /** One random action. */
  async step(): Promise<void> {
    const rng = this.#rng;
    const owned = [...this.#groups.values()].filter((g) => g.owner === this.user).map((g) => g.id);
    const joinable = [...this.#groups.keys()].filter((g) => !this.#memberOf.has(g) && !this.#asked.has(g));
    const leavable = [...this.#groups.keys()].filter((g) => !this.#stable.has(g));
    const members = [...this.#memberOf];
    const mine = this.#ledger.downloads.filter((d) => d.actor === this.user);
    const running = new Set(mine.filter((d) => d.state === "D").map((d) => `${d.group}/${d.name}`));
    const finished = mine.filter(
      (d) =>
        d.state === "C" &&
        this.#downloaded.has(`${d.group}/${d.name}`) &&
        !running.has(`${d.group}/${d.name}`),
    );
    const action = rng.weighted({
      refresh: this.#groups.size === 0 ? 6 : 2,
      stable: this.#stable.size < MAX_STABLE_GROUPS ? 1 : 0,
      churn: 0.3,
      conflictUser: 0.15,
      join: joinable.length > 0 ? 3 : 0,
      requests: owned.length > 0 ? 3 : 0,
      leave: leavable.length > 0 ? 0.8 : 0,
      upload: members.length > 0 && this.#uploads < MAX_UPLOADS ? 1.2 : 0,
      download: members.length > 0 ? 2 : 0,
      poll: 1,
      unshare: finished.length > 0 ? 0.5 : 0,
      relogin: 0.15,
    });
    switch (action) {
      case "refresh":
        return this.refresh();
      case "stable": {
        const g = `s-${this.user}-${++this.#serial}`;
        if (await this.#write(`create_group ${g}`)) {
          this.#stable.add(g);
          this.#memberOf.add(g);
          this.#ledger.stableGroups.set(g, this.user);
        }
        return;
      }
      case "churn": {
        const g = `cg${rng.int(1, CHURN_GROUPS)}`;
        if (await this.#write(`create_group ${g}`)) this.#memberOf.add(g);
        return;
      }
      case "conflictUser": {
        const u = `cx${rng.int(1, CONFLICT_USERS)}`;
        if (await this.#write(`create_user ${u} pw-${this.user}`)) this.#ledger.conflictUsers.add(u);
        return;
      }
      case "join": {
        const g = rng.pick(joinable)!;
        this.#asked.add(g);
        await this.#write(`join_group ${g}`);
        return;
      }
      case "requests": {
        const g = rng.pick(owned)!;
        const r = await this.#run(`list_requests ${g}`);
        if (!r || r.err.length > 0 || r.out.length === 0) return;
        const who = rng.pick(r.out)!;
        await this.#write(`${rng.chance(0.85) ? "accept_request" : "reject_request"} ${g} ${who}`);
        return;
      }
      case "leave": {
        const g = rng.pick(leavable)!;
        if (await this.#write(`leave_group ${g}`)) {
          this.#memberOf.delete(g);
          // Leaving stops the group's downloads here, and its files stop being shared (README):
          // what it uploaded or completed there is no copy for anyone any more.
          for (const d of this.#ledger.downloads) {
            if (d.actor !== this.user || d.group !== g) continue;
            if (d.state === "D") d.state = "X";
            if (d.state === "C") d.unshared = true;
          }
          for (const u of this.#ledger.uploads.values())
            if (u.uploader === this.user && u.group === g) u.acked = false;
          for (const key of [...this.#downloaded]) if (key.startsWith(`${g}/`)) this.#downloaded.delete(key);
        }
        return;
      }
      case "upload":
        return this.#upload(rng.pick(members)!);
      case "download":
        return this.#download(rng.pick(members)!);
      case "poll":
        return this.pollDownloads();
      case "unshare": {
        // A finished download is shared from here; stop that, so the file may be fetched again.
        const d = rng.pick(finished)!;
        const r = await this.#run(`stop_share ${d.group} ${d.name}`);
        if (r && r.err.length === 0) this.#ledger.count(this.#ledger.acked, "stop_share");
        if (r) {
          this.#downloaded.delete(`${d.group}/${d.name}`);
          // Every copy of the file here: stop_share names the file, not one download of it (a
          // file fetched again after an earlier stop_share has several finished records).
          // Even if it printed an error: it may have taken effect.
          for (const x of this.#ledger.downloads)
            if (x.actor === this.user && x.group === d.group && x.name === d.name && x.state === "C")
              x.unshared = true;
        }
        return;
      }
      case "relogin":
        if (await this.#write("logout")) await this.login();
        return;
    }
  }

  /** list_groups: what this actor knows of the groups, and which it is a member of. */
  async refresh(): Promise<void> {
    const r = await this.#run("list_groups");
    if (!r || r.err.length > 0) return;
    this.#groups = new Map();
    for (const line of r.out) {
      const g = parseGroupLine(line);
      if (g) this.#groups.set(g.id, g);
    }
    for (const g of [...this.#memberOf]) if (!this.#groups.has(g)) this.#memberOf.delete(g);
    // Membership is learnt by trying: list_files works for members only.
    const asked = [...this.#asked].filter((g) => this.#groups.has(g));
    const probe = this.#rng.pick(asked);
    if (probe !== undefined) {
      const f = await this.#run(`list_files ${probe}`);
      if (f && f.err.length === 0) {
        this.#memberOf.add(probe);
        this.#asked.delete(probe);
      } else if (f && this.#rng.chance(0.3)) {
        this.#asked.delete(probe); // maybe rejected: may ask again later
      }
    }
  }

  /** Logs in again (after a logout or a lost session). */
  async login(): Promise<boolean> {
    return this.#write(`login ${this.user} ${this.password}`);
  }

  /** show_downloads: verifies every download seen complete for the first time. */
  async pollDownloads(): Promise<void> {
    const r = await this.#run("show_downloads");
    if (!r || r.err.length > 0) return;
    const shown = new Set<DownloadRecord>();
    for (const line of r.out) {
      const m = line.match(/^\[(D|C|F)\] \[(\S+)\] (\S+)/);
      if (!m) continue;
      const record = this.#ledger.downloads.find(
        (d) => d.actor === this.user && d.group === m[2] && d.name === m[3] && d.state === "D",
      );
      if (!record) continue;
      shown.add(record);
      record.state = m[1] as "D" | "C" | "F";
      record.shown = line;
      if (record.state === "C") await this.verify(record);
      if (record.state === "F") this.#downloaded.delete(`${record.group}/${record.name}`); // may try again
    }
    // A logout forgets finished downloads (login resumes only unfinished ones): one that is no
    // longer shown and whose file is in place completed meanwhile.
    for (const d of this.#ledger.downloads) {
      if (d.actor === this.user && d.state === "D" && !shown.has(d) && existsSync(d.dest)) {
        d.state = "C";
        await this.verify(d);
      }
    }
  }

  /** The show_downloads line and the tracker's list_files line of a download still running. */
  async describe(record: DownloadRecord): Promise<string> {
    const shown =
      (await this.#run("show_downloads"))?.out.find((l) => l.includes(`[${record.group}] ${record.name}`)) ??
      "not shown";
    const files = await this.#run(`list_files ${record.group}`);
    const listed = files?.err[0] ?? files?.out.find((l) => l.startsWith(`${record.name} `)) ?? "not listed";
    // What the client last logged about that download (its peers): why it waits.
    const logged = this.client.stderr.lines
      .filter((l) => l.includes(`${record.group}/${record.name}:`))
      .slice(-6);
    return `${record.actor}: ${shown}; list_files: ${listed}${logged.length > 0 ? `; last logged: ${logged.join(" | ")}` : ""}`;
  }

  /** As a source of `record`'s file: who and where it is, and what it last logged about the file. */
  async asSource(record: DownloadRecord): Promise<string> {
    const who = (await this.#run("whoami"))?.out[0] ?? "whoami failed";
    const logged = this.client.stderr.lines
      .filter((l) => l.includes(`${record.group}/${record.name}`))
      .slice(-3);
    return `${this.user}: ${who}${logged.length > 0 ? `; last logged: ${logged.join(" | ")}` : ""}`;
  }

  /** Whether the tracker lets this actor list `group`'s files (it is a member, logged in). */
  async member(group: string): Promise<boolean> {
    const files = await this.#run(`list_files ${group}`);
    return files !== undefined && files.err.length === 0;
  }

  /** Compares a completed download with its source; records it as corrupted otherwise. */
  async verify(record: DownloadRecord): Promise<void> {
    if (record.verified) return;
    record.verified = true;
    if (!existsSync(record.dest)) {
      this.#ledger.corrupted.push(
        `${record.actor}: ${record.group}/${record.name} complete but ${record.dest} is missing (shown: ${record.shown ?? "never"})`,
      );
      return;
    }
    const got = await sha1File(record.dest);
    if (got !== record.sha1)
      this.#ledger.corrupted.push(
        `${record.actor}: ${record.group}/${record.name} at ${record.dest} has sha1 ${got}, the source ${record.sha1}`,
      );
  }

  async #upload(group: string): Promise<void> {
    const name = `f-${this.user}-${++this.#serial}.bin`;
    const path = await randomFile(join(this.#filesDir, name), this.#rng.int(1, MAX_FILE_BYTES));
    const sha1 = await sha1File(path);
    this.#uploads++;
    // Registered first: a download may see the file before this command returns.
    const upload: Upload = { group, name, sha1, uploader: this.user, mustStay: false, acked: false };
    this.#ledger.uploads.set(name, upload);
    if (await this.#write(`upload_file ${path} ${group}`)) {
      upload.acked = true;
      upload.mustStay = this.#stable.has(group);
    }
  }

  async #download(group: string): Promise<void> {
    const r = await this.#run(`list_files ${group}`);
    if (!r || r.err.length > 0) {
      if (r) this.#memberOf.delete(group);
      return;
    }
    const names = r.out
      .map((l) => l.split(" ")[0]!)
      .filter(
        (n) =>
          this.#ledger.uploads.has(n) &&
          !n.startsWith(`f-${this.user}-`) &&
          !this.#downloaded.has(`${group}/${n}`),
      );
    const name = this.#rng.pick(names);
    if (name === undefined) return;
    // A fresh destination each time: an earlier copy stays to be checked at the end.
    const dest = join(this.#downloadsDir, `${group}--${name}--${++this.#serial}`);
    this.#downloaded.add(`${group}/${name}`);
    if (await this.#write(`download_file ${group} ${name} ${dest}`)) {
      this.#ledger.downloads.push({
        actor: this.user,
        group,
        name,
        dest,
        sha1: this.#ledger.uploads.get(name)!.sha1,
        state: "D",
        verified: false,
      });
    }
  }

  /** Runs a command that changes state; true if it printed success. Re-logs in after a lost session. */
  async #write(line: string): Promise<boolean> {
    const r = await this.#run(line);
    if (!r) return false;
    const verb = line.split(" ")[0]!;
    if (r.err.length === 0) {
      this.#ledger.count(this.#ledger.acked, verb);
      return true;
    }
    return false;
  }

  /** Runs a command; undefined if the harness gave up or the client died. Tallies refusals. */
  async #run(line: string): Promise<RunResult | undefined> {
    let r: RunResult;
    try {
      r = await this.client.run(line);
    } catch (err) {
      this.#ledger.stuck.push(`${this.user}: ${line}: ${messageOf(err).slice(0, 300)}`);
      return undefined;
    }
    if (process.env.SOAK_TRACE) {
      appendFileSync(
        process.env.SOAK_TRACE,
        `${Date.now()} ${this.user} > ${line}\n${[...r.out, ...r.err, ...r.log].map((l) => `    ${l}\n`).join("")}`,
      );
    }
    if (!this.client.running) {
      this.#ledger.crashed.push(
        `${this.user}'s client exited (${this.client.proc.exitCode ?? this.client.proc.signalCode}) during "${line}": ${this.client.stderr.lines.slice(-3).join(" | ")}`,
      );
      return undefined;
    }
    if (r.err.length > 0) {
      const verb = line.split(" ")[0]!;
      const reason = r.err[0]!.replace(/^error: /, "")
        .replace(/"[^"]*"/g, "…")
        .replace(/\S*(cg|cx|s-|f-)\S*/g, "…")
        .slice(0, 120);
      this.#ledger.count(this.#ledger.refused, `${verb}: ${reason}`);
      const group = line.split(" ")[1];
      if (/already a member/.test(r.err[0]!) && group) this.#memberOf.add(group);
      if (/not a member/.test(r.err[0]!) && group) this.#memberOf.delete(group);
      if (/session|not logged in/.test(r.err[0]!) && verb !== "login") {
        this.#ledger.sessionsLost++;
        if (this.#ledger.sessionsLostLines.length < 5) {
          const switched = this.client.stderr.lines
            .filter((l) => /switched to tracker|tracker/.test(l))
            .slice(-2);
          this.#ledger.sessionsLostLines.push(
            `${this.user}: "${line}": ${r.err[0]} (last tracker lines: ${switched.join(" | ")})`,
          );
        }
        await this.login();
      }
    }
    return r;
  }
}
