// Our side of the transfer figures: a swarm of compiled ./client seeders behind two ./tracker's,
// timed leecher runs (download_file to `[C]`), and upload_file round trips.
import { mkdirSync, rmSync } from "node:fs";
import { basename, join } from "node:path";
import { type ClientProcess, startClient } from "../spec/helpers/client_process.ts";
import { type Cluster, makeCluster, startTrackers } from "../spec/helpers/cluster.ts";
import { waitUntil } from "../spec/helpers/wait.ts";
import { RssWatch, runOk } from "./proc.ts";
import type { DownloadRun } from "./reference.ts";

const GROUP = "bench";
const PASSWORD = "bench-pw";
/** show_downloads is polled this often until the download's `[C]` line appears. */
const POLL_MS = 50;

/** A running swarm of ours: two trackers, `seeders` clients sharing `file` in one group. */
export interface OurSwarm {
  cluster: Cluster;
  /** Runs one fresh leecher client to completion and checks the file; throws on failure. */
  leech(outDir: string, timeoutMs: number): Promise<DownloadRun>;
  /** Kills the swarm's clients and trackers. */
  stop(): Promise<void>;
}

/**
 * Seeders talk to tracker 1 and the leecher to tracker 2, so every run also crosses the
 * replication path (memberships, shares and liveness made at one tracker, read at the other).
 */
export async function startOurSwarm(options: {
  file: string;
  seeders: number;
  timeoutMs: number;
}): Promise<OurSwarm> {
  const cluster = await makeCluster({ trackers: 2 });
  await startTrackers(cluster);
  const seeders: ClientProcess[] = [];
  for (let i = 1; i <= options.seeders; i++) {
    const seeder = await startClient(cluster, { order: [1, 2] });
    await seeder.ok(`create_user seed${i} ${PASSWORD}`);
    await seeder.ok(`login seed${i} ${PASSWORD}`);
    if (i === 1) await seeder.ok(`create_group ${GROUP}`);
    else await admit(seeders[0]!, seeder, `seed${i}`);
    await seeder.ok(`upload_file ${options.file} ${GROUP}`, { timeoutMs: options.timeoutMs });
    seeders.push(seeder);
  }
  const name = basename(options.file);
  let runs = 0;
  return {
    cluster,
    leech: async (outDir, timeoutMs) => {
      const user = `leech${++runs}`;
      const leecher = await startClient(cluster, { order: [2, 1] });
      const rss = new RssWatch(leecher.proc.pid);
      try {
        await leecher.ok(`create_user ${user} ${PASSWORD}`);
        await leecher.ok(`login ${user} ${PASSWORD}`);
        await admit(seeders[0]!, leecher, user);
        // Untimed: wait until tracker 2 has the membership and sees every seeder live.
        await waitUntil(
          async () => {
            const r = await leecher.run(`list_files ${GROUP}`);
            return r.out.some((l) => l.startsWith(`${name} `) && l.includes(`seeders=${options.seeders}`));
          },
          {
            timeoutMs: 20_000,
            intervalMs: 100,
            what: `tracker 2 to list ${options.seeders} live seeder(s) of ${name}`,
          },
        );
        rmSync(outDir, { recursive: true, force: true });
        mkdirSync(outDir, { recursive: true });
        const baselineRssBytes = rss.sample();
        const started = performance.now();
        await leecher.ok(`download_file ${GROUP} ${name} ${outDir}`);
        const done = await waitUntil(
          async () => {
            const out = await leecher.ok("show_downloads");
            const line = out.find(
              (l) => l.startsWith(`[C] [${GROUP}] ${name}`) || l.startsWith(`[F] [${GROUP}] ${name}`),
            );
            if (line?.startsWith("[F]")) throw new Error(`our download failed: ${line}`);
            return line;
          },
          { timeoutMs, intervalMs: POLL_MS, what: `our download of ${name} to complete` },
        );
        const seconds = (performance.now() - started) / 1000;
        const peakRssBytes = rss.stop();
        const dest = join(outDir, name);
        await runOk(["cmp", "-s", options.file, dest], { timeoutMs: 120_000 }).catch(() => {
          throw new Error(`our ${dest} differs from ${options.file}`);
        });
        const reported = done.match(/ in ([\d.]+) s/)?.[1];
        return {
          seconds,
          peakRssBytes,
          baselineRssBytes,
          reportedSeconds: reported === undefined ? undefined : Number(reported),
        };
      } finally {
        rss.stop();
        await leecher.close().catch(() => leecher.kill("SIGKILL"));
        rmSync(outDir, { recursive: true, force: true });
      }
    },
    stop: () => stopCluster(cluster),
  };
}

/** Seconds per `upload_file <file>` round trip (hashing and registration), `runs` times. */
export async function timeUploads(options: {
  file: string;
  runs: number;
  timeoutMs: number;
  beforeRun: () => Promise<void>;
}): Promise<number[]> {
  const cluster = await makeCluster({ trackers: 2 });
  await startTrackers(cluster);
  const client = await startClient(cluster);
  await client.ok(`create_user uploader ${PASSWORD}`);
  await client.ok(`login uploader ${PASSWORD}`);
  await client.ok(`create_group ${GROUP}`);
  const seconds: number[] = [];
  for (let i = 0; i < options.runs; i++) {
    // Uploading the same file again re-registers it: the whole hash-and-share path runs each time.
    await options.beforeRun();
    const started = performance.now();
    const out = await client.ok(`upload_file ${options.file} ${GROUP}`, { timeoutMs: options.timeoutMs });
    seconds.push((performance.now() - started) / 1000);
    if (!out.some((l) => l.startsWith("sharing ")))
      throw new Error(`upload_file printed ${JSON.stringify(out)}`);
  }
  await stopCluster(cluster);
  return seconds;
}

/** Kills every client and tracker of `cluster` (its temp dir goes with stopAll()). */
export async function stopCluster(cluster: Cluster): Promise<void> {
  await Promise.all(cluster.clients.map((c) => c.stop()));
  await Promise.all([...cluster.trackers.values()].map((t) => t.stop()));
}

/** Makes `joiner` a member of the bench group, accepted by its owner's client. */
async function admit(owner: ClientProcess, joiner: ClientProcess, user: string): Promise<void> {
  await joiner.ok(`join_group ${GROUP}`);
  // The owner's tracker may not have the request yet when the joiner's is another one.
  await waitUntil(async () => (await owner.run(`accept_request ${GROUP} ${user}`)).err.length === 0, {
    timeoutMs: 10_000,
    intervalMs: 20,
    what: `${user}'s join request to reach the owner's tracker`,
  });
}
