// The reference: a BitTorrent swarm on 127.0.0.1 (Debian's opentracker, aria2c seeders and one
// aria2c leecher, a mktorrent torrent of 512 KiB pieces), timed like our download scenarios.
import { chmodSync, linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { freePort, waitUntil } from "../spec/helpers/wait.ts";
import { infoHashHex, scrapeSeeders, urlEncodeBytes } from "./bencode.ts";
import { type Child, RssWatch, runOk, spawnChild } from "./proc.ts";

const HOST = "127.0.0.1";
/** 2^19 bytes = 512 KiB pieces, like ours (SPEC "Downloads"). */
const PIECE_LENGTH_LOG2 = "19";

/**
 * Every aria2c here: no DHT, PEX or local peer discovery (the tracker is the only source of
 * peers, as in ours), no preallocation (ours makes a sparse file too), no console chatter, no
 * user config, and it stops by itself if the bench dies (--stop-with-process).
 */
export const ARIA2_COMMON = [
  "--no-conf=true",
  "--enable-dht=false",
  "--enable-dht6=false",
  "--enable-peer-exchange=false",
  "--bt-enable-lpd=false",
  "--file-allocation=none",
  "--summary-interval=0",
  "--quiet=true",
  `--stop-with-process=${process.pid}`,
];

/** One timed leecher run. */
export interface DownloadRun {
  seconds: number;
  peakRssBytes: number;
  /** What the downloader itself reported (ours only: the `[C]` line's seconds). */
  reportedSeconds?: number | undefined;
  /** The leecher's VmHWM just before the download started (ours only: it was started earlier). */
  baselineRssBytes?: number;
  /** Spawn to exit (aria2c only: it exits about a second after completing). */
  exitSeconds?: number;
}

/** A running reference swarm: opentracker plus `seeders` aria2c seeders of `file`. */
export interface ReferenceSwarm {
  torrentPath: string;
  /** Runs one fresh aria2c leecher to completion and checks the file; throws on failure. */
  leech(outDir: string, timeoutMs: number): Promise<DownloadRun>;
  stop(): Promise<void>;
}

/** Makes the torrent, starts opentracker and the seeders, waits until the tracker lists them all. */
export async function startReferenceSwarm(options: {
  dir: string;
  file: string;
  seeders: number;
  timeoutMs: number;
}): Promise<ReferenceSwarm> {
  const { dir, file, seeders } = options;
  const trackerPort = freePort();
  const torrentPath = join(dir, "bench.torrent");
  await runOk(
    [
      "mktorrent",
      "-l",
      PIECE_LENGTH_LOG2,
      "-a",
      `http://${HOST}:${trackerPort}/announce`,
      "-o",
      torrentPath,
      file,
    ],
    {
      timeoutMs: options.timeoutMs,
    },
  );
  const hash = infoHashHex(readFileSync(torrentPath));
  const started: Child[] = [];
  try {
    started.push(await startOpentracker(join(dir, "opentracker"), trackerPort, hash));
    for (let i = 0; i < seeders; i++) {
      // Each seeder gets its own directory (aria2 keeps control files next to the data) holding
      // a hard link to the one source file, so all of them read the same cached pages.
      const seedDir = join(dir, `seeder-${i + 1}`);
      mkdirSync(seedDir, { recursive: true });
      linkSync(file, join(seedDir, fileName(file)));
      const args = [
        "--dir",
        seedDir,
        "--seed-ratio=0.0",
        "--bt-seed-unverified=true",
        `--listen-port=${freePort()}`,
      ];
      started.push(
        spawnChild(["aria2c", ...ARIA2_COMMON, ...args, torrentPath], { timeoutMs: options.timeoutMs }),
      );
    }
    const scrapeUrl = `http://${HOST}:${trackerPort}/scrape?info_hash=${urlEncodeBytes(Buffer.from(hash, "hex"))}`;
    await waitUntil(
      async () => {
        const res = await fetch(scrapeUrl).catch(() => undefined);
        return res?.ok && scrapeSeeders(new Uint8Array(await res.arrayBuffer())) >= seeders;
      },
      { timeoutMs: 30_000, intervalMs: 100, what: `opentracker to list ${seeders} aria2c seeder(s)` },
    );
  } catch (err) {
    await Promise.all(started.map((c) => c.stop()));
    throw err;
  }
  return {
    torrentPath,
    leech: (outDir, timeoutMs) => leech(torrentPath, join(outDir, fileName(file)), file, timeoutMs),
    stop: async () => void (await Promise.all(started.map((c) => c.stop()))),
  };
}

/**
 * Times one aria2c leecher from its spawn to its completed download: aria2c runs the
 * --on-bt-download-complete hook the moment the last piece has passed its SHA-1 check (before
 * seeding), and the hook stamps the wall clock. With --seed-time=0 it then exits, about a second
 * later (it tells the tracker it stopped on its next one-second tick): that is `exitSeconds`,
 * kept as a detail. Its peak RSS is the larger of the polled VmHWM and the kernel's rusage
 * maximum at exit (the exact peak).
 */
async function leech(
  torrentPath: string,
  dest: string,
  source: string,
  timeoutMs: number,
): Promise<DownloadRun> {
  const outDir = dirname(dest);
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const stamp = join(dirname(torrentPath), "leecher-done.stamp");
  const hook = join(dirname(torrentPath), "leecher-done.sh");
  rmSync(stamp, { force: true });
  writeFileSync(hook, `#!/bin/sh\ndate +%s%N > '${stamp}'\n`, { mode: 0o755 });
  const args = [
    "--dir",
    outDir,
    "--seed-time=0",
    `--listen-port=${freePort()}`,
    `--on-bt-download-complete=${hook}`,
  ];
  const startedWallMs = performance.timeOrigin + performance.now();
  const started = performance.now();
  const child = spawnChild(["aria2c", ...ARIA2_COMMON, ...args, torrentPath], { timeoutMs });
  const rss = new RssWatch(child.proc.pid);
  const code = await child.exited;
  const exitSeconds = (performance.now() - started) / 1000;
  const polled = rss.stop();
  if (code !== 0) throw new Error(`aria2c leecher exited with status ${code} (timeout ${timeoutMs} ms?)`);
  const maxRss = child.proc.resourceUsage()?.maxRSS ?? 0; // bytes (Bun converts ru_maxrss)
  await runOk(["cmp", "-s", source, dest], { timeoutMs: 120_000 }).catch(() => {
    throw new Error(`aria2c's ${dest} differs from ${source}`);
  });
  let doneNs: string;
  try {
    doneNs = readFileSync(stamp, "utf8").trim();
  } catch {
    throw new Error("aria2c completed the download but never ran its --on-bt-download-complete hook");
  }
  rmSync(outDir, { recursive: true, force: true });
  const seconds = (Number(BigInt(doneNs) / 1000n) / 1000 - startedWallMs) / 1000;
  return { seconds, exitSeconds, peakRssBytes: Math.max(polled, maxRss) };
}

/**
 * Starts opentracker on `host` (127.0.0.1 unless given; TCP and UDP) in its own chroot directory. Debian builds it
 * in whitelist mode: the torrent's info hash must be listed, or it refuses every announce.
 */
export async function startOpentracker(
  dir: string,
  port: number,
  infoHash: string,
  host = HOST,
): Promise<Child> {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "whitelist.txt"), `${infoHash}\n`);
  // As root it chroots here and drops to an unprivileged user, who must be able to read it.
  chmodSync(dir, 0o755);
  chmodSync(join(dir, "whitelist.txt"), 0o644);
  const user = process.getuid?.() === 0 ? (hasUser("_opentracker") ? "_opentracker" : "nobody") : undefined;
  const cmd = [
    "opentracker",
    "-i",
    host,
    "-p",
    String(port),
    "-P",
    String(port),
    "-d",
    dir,
    "-w",
    "whitelist.txt",
  ];
  if (user) cmd.push("-u", user);
  const child = spawnChild(cmd, { timeoutMs: 24 * 3600_000 });
  await waitUntil(
    async () => {
      if (child.proc.exitCode !== null)
        throw new Error(`opentracker exited with status ${child.proc.exitCode}`);
      return (await fetch(`http://${host}:${port}/scrape`).catch(() => undefined)) !== undefined;
    },
    { timeoutMs: 10_000, intervalMs: 20, what: "opentracker to accept connections" },
  );
  return child;
}

function hasUser(name: string): boolean {
  try {
    return readFileSync("/etc/passwd", "utf8")
      .split("\n")
      .some((l) => l.startsWith(`${name}:`));
  } catch {
    return false;
  }
}

function fileName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}
