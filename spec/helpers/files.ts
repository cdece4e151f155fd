// File-sharing helpers for e2e tests: random files, whole-file SHA-1, groups of logged-in
// clients, and polling `show_downloads`. Test helper (never a spec file).
//
//   const [alice, bob] = await groupOf(cluster, ["alice", "bob"]);     // alice owns g, bob is a member
//   const path = await randomFile(await tempPath("movie.bin"), 20 * MiB);
//   await alice.ok(`upload_file ${path} g`);
//   await bob.ok(`download_file g movie.bin ${dest}`);
//   const line = await waitForDownload(bob, "g/movie.bin");             // the `[C] ...` line
//   expect(await sha1File(join(dest, "movie.bin"))).toBe(await sha1File(path));
//
// A download is named `<group>/<file_name>`, as the client keys them (neither may contain `/`).
import { randomFillSync } from "node:crypto";
import { copyFile, open } from "node:fs/promises";
import { basename, join } from "node:path";
import { type ClientProcess, type ClientStartOptions, startClient } from "./client_process.ts";
import { type Cluster, settle } from "./cluster.ts";
import { makeTempDir } from "./processes.ts";

export const MiB = 1024 * 1024;
/** How often the pollers below ask a client for `show_downloads`. */
const POLL_MS = 100;
/** Faster, to catch a loopback download (hundreds of MiB/s) mid-way. */
const FAST_POLL_MS = 20;

/** `<fresh temp dir>/<name>`: the dir is removed by stopAll(). */
export async function tempPath(name: string): Promise<string> {
  return join(await makeTempDir(), name);
}

/** Writes `bytes` random bytes to `path` (4 MiB at a time); returns the path. */
export async function randomFile(path: string, bytes: number): Promise<string> {
  const file = await open(path, "w");
  try {
    const chunk = new Uint8Array(4 * MiB);
    for (let at = 0; at < bytes; ) {
      const n = Math.min(chunk.byteLength, bytes - at);
      randomFillSync(chunk, 0, n);
      await file.write(chunk, 0, n, at);
      at += n;
    }
  } finally {
    await file.close();
  }
  return path;
}

/** Copies `path` into a fresh temp dir under the same base name (another member's own copy). */
export async function copyOf(path: string): Promise<string> {
  const copy = await tempPath(basename(path));
  await copyFile(path, copy);
  return copy;
}

/** The SHA-1 of a whole file on disk, in hex. */
export async function sha1File(path: string): Promise<string> {
  const hasher = new Bun.CryptoHasher("sha1");
  for await (const chunk of Bun.file(path).stream()) hasher.update(chunk);
  return hasher.digest("hex");
}

/** Options of groupOf. */
export interface GroupOptions {
  /** The group id (default `g`). */
  group?: string;
  /** Start options for every client, or one per user. */
  clients?: ClientStartOptions | ClientStartOptions[];
}

/**
 * Starts one client per user, creates and logs in each user (password `pw-<user>`), makes the
 * first one create the group and accepts every other one into it, letting the trackers settle
 * between steps. Returns the clients in order.
 */
export async function groupOf(
  cluster: Cluster,
  users: string[],
  options: GroupOptions = {},
): Promise<ClientProcess[]> {
  const { group = "g", clients: start = {} } = options;
  const settled = async () => {
    if ([...cluster.trackers.values()].filter((t) => t.running).length > 1) await settle(cluster);
  };
  const clients: ClientProcess[] = [];
  for (const [i, user] of users.entries()) {
    const client = await startClient(cluster, Array.isArray(start) ? (start[i] ?? {}) : start);
    await client.ok(`create_user ${user} pw-${user}`);
    await client.ok(`login ${user} pw-${user}`);
    clients.push(client);
  }
  const [owner, ...others] = clients;
  await owner!.ok(`create_group ${group}`);
  await settled();
  for (const client of others) await client.ok(`join_group ${group}`);
  await settled();
  for (const user of users.slice(1)) await owner!.ok(`accept_request ${group} ${user}`);
  await settled();
  return clients;
}

/** A `show_downloads` line, parsed. */
export interface DownloadLine {
  line: string;
  state: "D" | "C" | "F";
  /** For `[D]` lines: the percent done. */
  percent?: number;
  /** For `[D]` lines: the number of peers connected. */
  peers?: number;
}

/** The `show_downloads` line of `download` (`group/name`) on `client`, or undefined if it has none. */
export async function downloadLine(
  client: ClientProcess,
  download: string,
): Promise<DownloadLine | undefined> {
  const [group = "", name = ""] = download.split("/");
  const head = (state: string) => `[${state}] [${group}] ${name}`;
  for (const line of await client.ok("show_downloads")) {
    for (const state of ["D", "C", "F"] as const) {
      if (line !== head(state) && !line.startsWith(`${head(state)} `)) continue;
      const m = state === "D" ? line.match(/ (\d+)% .* (\d+) peers?$/) : null;
      return m ? { line, state, percent: Number(m[1]), peers: Number(m[2]) } : { line, state };
    }
  }
  return undefined;
}

/**
 * Polls `show_downloads` until `download` (`group/name`) is complete (`[C]`) and returns that
 * line; throws at once if it failed (`[F]`), or after `timeoutMs` (default 60 s).
 */
export async function waitForDownload(
  client: ClientProcess,
  download: string,
  options: { timeoutMs?: number } = {},
): Promise<string> {
  const d = await pollDownload(client, download, {
    timeoutMs: options.timeoutMs ?? 60_000,
    intervalMs: POLL_MS,
    what: `${download} to complete`,
    done: (d) => d.state === "C",
  });
  return d.line;
}

/**
 * Polls `show_downloads` until `download` (`group/name`) is running with at least `percent`
 * done; throws if it completes or fails first (the test wanted it mid-way).
 */
export async function waitForPercent(
  client: ClientProcess,
  download: string,
  options: { percent: number; timeoutMs?: number },
): Promise<DownloadLine> {
  const { percent } = options;
  return pollDownload(client, download, {
    timeoutMs: options.timeoutMs ?? 60_000,
    intervalMs: FAST_POLL_MS,
    what: `${download} to reach ${percent}%`,
    done: (d) => {
      if (d.state === "C")
        throw new Error(`${download} completed before the test saw it at ${percent}%: ${d.line}`);
      return d.percent !== undefined && d.percent >= percent;
    },
  });
}

async function pollDownload(
  client: ClientProcess,
  download: string,
  options: { timeoutMs: number; intervalMs: number; what: string; done: (d: DownloadLine) => boolean },
): Promise<DownloadLine> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    const last = await downloadLine(client, download);
    if (last?.state === "F")
      throw new Error(`${download} failed while waiting for ${options.what}: ${last.line}`);
    if (last && options.done(last)) return last;
    if (Date.now() >= deadline)
      throw new Error(
        `timed out after ${options.timeoutMs} ms waiting for ${options.what}; last line: ${last?.line ?? "(none)"}`,
      );
    await Bun.sleep(options.intervalMs);
  }
}

/** The `[C]` line's figures: seconds taken, pieces resumed, fetched twice, failed their check. */
export function completedFigures(line: string): {
  seconds: number;
  resumed: number;
  twice: number;
  bad: number;
} {
  const m = line.match(
    / in ([\d.]+) s, (\d+) pieces resumed, (\d+) fetched twice, (\d+) failed their check\)$/,
  );
  if (!m) throw new Error(`not a complete download line: ${line}`);
  return { seconds: Number(m[1]), resumed: Number(m[2]), twice: Number(m[3]), bad: Number(m[4]) };
}
