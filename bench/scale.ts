// `npm run bench -- scale`: the tracker cluster at a given size of replicated state (users,
// groups with 200-byte ids, shared files with many piece hashes), written straight into tracker
// 1's store as the base its operations would have compacted into (spec/helpers/big_state.ts). Per size: restart to `listening`, a wiped tracker's catch-up
// time and rate, each tracker's RSS against the state's size, `list_groups` to its first and
// last line, and tracker ops/s and p99 latency. The p99 is compared with an empty cluster run
// at the same time: P99_ROUNDS paced runs of each, interleaved (empty, loaded, loaded, empty,
// ...), so that whatever else the machine does falls on both alike; the ratio is reported as
// the median of the rounds' ratios, with their spread. Figures go to bench/results/ as JSON.
//   npm run bench -- scale                      10 MB and 100 MB
//   SCALE_MB=10,100,1000 npm run bench -- scale (1 GB: about 3 GB of memory per tracker and
//   the bench process, 6 to 8 minutes)
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { type BigState, writeBigState } from "../spec/helpers/big_state.ts";
import { type Cluster, makeCluster, settle } from "../spec/helpers/cluster.ts";
import { REPO_ROOT, stopAll } from "../spec/helpers/processes.ts";
import { startTracker, type TrackerProcess } from "../spec/helpers/tracker_process.ts";
import { rssField } from "./soak_report.ts";
import { TrackerConn } from "./tracker_conn.ts";
import { loginClients, runLoad, seedTracker } from "./tracker_load.ts";

/** The issue's targets. */
export const SCALE_TARGETS = {
  catchUpMBps: 50,
  /** RSS at most this times the state's size, plus RSS_EXTRA_MB. */
  rssOverState: 3,
  rssExtraMB: 100,
  /** p99 at 100 MB of state within this factor of the empty tracker's. */
  p99OverEmpty: 2,
};

const RESTARTS = 3;
const LOAD = { users: 40, clients: 100, warmupMs: 1_000, durationMs: 5_000, pacedRate: 2_000 };
/** Paced runs of the empty and the loaded cluster each, interleaved; each is PACED_MS long. */
const P99_ROUNDS = 5;
const PACED = { warmupMs: 500, durationMs: 3_000 };
/** Writes and small listings only: a list_groups of 100 MB of state is its own figure. */
const LOAD_MIX = { listGroups: 0, listFiles: 0.5 };

/** The figures at one size. */
export interface ScaleResult {
  targetMB: number;
  stateBytes: number;
  groups: number;
  buildS: number;
  restartS: number[];
  /** From tracker 2's spawn to its base adopted. */
  catchUpS: number;
  /** From the first part received to the base adopted, as tracker 2 logs it. */
  transferS: number;
  /** Of that, tracker 2's time decoding and building the chunks, and storing them. */
  readS: number;
  storeS: number;
  /** Tracker 1's time sending the chunks, and of it waiting for the link to drain. */
  sendS: number;
  sendWaitS: number;
  /**
   * CPU seconds (user + system) each tracker spent on the catch-up: tracker 2 from its spawn to
   * its base adopted, tracker 1 over the same span. Unlike the wall times they hardly depend on
   * what else the machine runs: the state's size over tracker 2's CPU time is the rate a
   * catch-up reaches whenever it gets one core to itself.
   */
  catchUpCpuS: { tracker1: number; tracker2: number };
  catchUpMBps: number;
  /** VmRSS at the end of the size's run. */
  rssMB: { tracker1: number; tracker2: number };
  /** VmRSS after the catch-up and the listing, before the load. */
  settledMB: { tracker1: number; tracker2: number };
  /** VmHWM of each tracker right after the catch-up (tracker 1's includes its restarts). */
  peakMB: { tracker1: number; tracker2: number };
  listFirstMs: number;
  listLastMs: number;
  listed: number;
  closedOpsPerSecond: number;
  /** Per round: the paced p99 of this cluster and of the empty one run next to it. */
  p99Rounds: { loadedMs: number; emptyMs: number; loadedP50Ms: number }[];
  /** Load average (1 min) at the start and the end of this size's run. */
  load: [number, number];
}

/**
 * Users, groups and files in a state of about `mb` megabytes of base chunks, a third each: a
 * group with a 200-byte id, its owner and one member takes ~265 bytes, a user (id and argon2id
 * hash) ~110, a 4 GiB file's 8,192 piece hashes 164 KB.
 */
function shape(mb: number): Parameters<typeof writeBigState>[2] {
  const bytes = mb * 1e6;
  return {
    groups: Math.round(bytes / 3 / 265),
    users: Math.round(bytes / 3 / 110),
    files: Math.max(1, Math.round(bytes / 3 / 164_000)),
    piecesPerFile: 8_192,
    direct: true,
  };
}

/** Runs every size in `sizesMb` (0: an empty tracker, the reference) and prints the table. */
export async function benchScale(sizesMb: number[], log: (line: string) => void): Promise<ScaleResult[]> {
  const results: ScaleResult[] = [];
  for (const mb of [0, ...sizesMb]) {
    try {
      results.push(await atSize(mb, log));
    } finally {
      await stopAll();
    }
  }
  printScale(results);
  log(`figures written to ${saveScale(results)}`);
  return results;
}

async function atSize(mb: number, log: (line: string) => void): Promise<ScaleResult> {
  const loadStart = loadavg()[0] ?? 0;
  const cluster = await makeCluster({ trackers: 2 });
  const built = performance.now();
  let big: BigState | undefined;
  if (mb > 0) big = await writeBigState(cluster.slots[0]!.dataDir, 1, shape(mb));
  const buildS = (performance.now() - built) / 1000;
  log(
    `scale ${mb} MB: state of ${((big?.baseBytes ?? 0) / 1e6).toFixed(1)} MB built in ${buildS.toFixed(1)} s`,
  );

  // Restart: a SIGKILLed tracker on this data dir, to its `listening` line.
  const restartS: number[] = [];
  let t1: TrackerProcess | undefined;
  for (let i = 0; i < RESTARTS; i++) {
    const t0 = performance.now();
    t1 = t1 ? await t1.restart() : await startTracker(cluster, 1, { startTimeoutMs: 600_000 });
    restartS.push((performance.now() - t0) / 1000);
  }
  if (!t1) throw new Error("tracker 1 did not start");

  // Catch-up: tracker 2 starts with an empty data dir; timed from its spawn to its log line of
  // the base adopted (the ops above it follow in one more round trip).
  const t0 = performance.now();
  const t1CpuBefore = cpuSeconds(t1.proc.pid);
  const t2 = await startTracker(cluster, 2, { startTimeoutMs: 600_000 });
  let catchUpS = 0;
  let transferS = Number.NaN;
  let readS = Number.NaN;
  let storeS = Number.NaN;
  let sendS = Number.NaN;
  let sendWaitS = Number.NaN;
  let catchUpCpuS = { tracker1: Number.NaN, tracker2: Number.NaN };
  if (big) {
    const adopted = await t2.stderr.next((l) => l.includes("adopted compacted base"), 1_800_000);
    catchUpS = (performance.now() - t0) / 1000;
    catchUpCpuS = { tracker1: cpuSeconds(t1.proc.pid) - t1CpuBefore, tracker2: cpuSeconds(t2.proc.pid) };
    const line = adopted.lines.at(-1) ?? "";
    transferS = Number(line.match(/in ([\d.]+) s;/)?.[1] ?? Number.NaN);
    readS = Number(line.match(/([\d.]+) s reading/)?.[1] ?? Number.NaN);
    storeS = Number(line.match(/([\d.]+) s storing/)?.[1] ?? Number.NaN);
    const sent = await t1.stderr.next((l) => l.includes("sent compacted base"), 60_000);
    const sentLine = sent.lines.at(-1) ?? "";
    sendS = Number(sentLine.match(/in ([\d.]+) s,/)?.[1] ?? Number.NaN);
    sendWaitS = Number(sentLine.match(/([\d.]+) s of it waiting/)?.[1] ?? Number.NaN);
  }
  // The base holds every op (the state was built compacted): adopted is caught up. An empty
  // cluster settles at once. (`status` digests the whole state: seconds at 100 MB.)
  if (!big) await settle(cluster);
  const stateBytes = big?.baseBytes ?? 0;
  const peakMB = {
    tracker1: rssField(t1.proc.pid, "VmHWM") / 1024,
    tracker2: rssField(t2.proc.pid, "VmHWM") / 1024,
  };
  log(
    `scale ${mb} MB: tracker 2 caught up in ${catchUpS.toFixed(2)} s; peak RSS so far ${peakMB.tracker1.toFixed(0)} / ${peakMB.tracker2.toFixed(0)} MiB`,
  );

  // list_groups through tracker 1, timed to its first and its last entry.
  const conn = await TrackerConn.open("127.0.0.1", cluster.slots[0]!.port);
  let listFirstMs = 0;
  let listLastMs = 0;
  let listed = 0;
  if (big) {
    const token = crypto.getRandomValues(new Uint8Array(32));
    await conn.ok({ t: "login", user: big.user, pass: big.pass, peer: "127.0.0.1:9", token });
  } else {
    await conn.ok({ t: "create_user", user: "lister", pass: "pw" });
    const token = crypto.getRandomValues(new Uint8Array(32));
    await conn.ok({ t: "login", user: "lister", pass: "pw", peer: "127.0.0.1:9", token });
  }
  const listStart = performance.now();
  const reply = await conn.request({ t: "list_groups" }, (items) => {
    if (listed === 0) listFirstMs = performance.now() - listStart;
    listed += items.length;
  });
  listLastMs = performance.now() - listStart;
  if (!reply.ok) throw new Error(`list_groups failed: ${reply.reason}`);
  conn.close();

  // Settled, before the load adds its own users, sessions and garbage (about 45 MiB on its own).
  await Bun.sleep(2_000);
  const settledMB = {
    tracker1: rssField(t1.proc.pid, "VmRSS") / 1024,
    tracker2: rssField(t2.proc.pid, "VmRSS") / 1024,
  };
  // Load: simulated clients on tracker 1 (writes replicate to tracker 2), closed loop, then
  // paced runs interleaved with the same on an empty cluster started next to this one.
  const clients = await loadClients(cluster);
  const closed = await runLoad(clients, {
    warmupMs: LOAD.warmupMs,
    durationMs: LOAD.durationMs,
    mix: LOAD_MIX,
  });
  const p99Rounds: ScaleResult["p99Rounds"] = [];
  if (mb > 0) {
    const reference = await makeCluster({ trackers: 2 });
    await startTracker(reference, 1);
    await startTracker(reference, 2);
    await settle(reference);
    const emptyClients = await loadClients(reference);
    const paced = (on: typeof clients) =>
      runLoad(on, { ...PACED, ratePerSecond: LOAD.pacedRate, mix: LOAD_MIX }).then((r) => r.all);
    for (let round = 0; round < P99_ROUNDS; round++) {
      // Empty first in even rounds, loaded first in odd ones: neither always runs first.
      const [first, second] = round % 2 === 0 ? [emptyClients, clients] : [clients, emptyClients];
      const a = await paced(first);
      const b = await paced(second);
      const [empty, loaded] = round % 2 === 0 ? [a, b] : [b, a];
      p99Rounds.push({ loadedMs: loaded.p99Ms, emptyMs: empty.p99Ms, loadedP50Ms: loaded.p50Ms });
      log(
        `scale ${mb} MB: round ${round + 1}: p99 ${loaded.p99Ms.toFixed(1)} ms loaded, ${empty.p99Ms.toFixed(1)} ms empty`,
      );
    }
    for (const c of emptyClients) c.conn.close();
  }
  for (const c of clients) c.conn.close();
  // Steady state, after the catch-up, the listing and the load (the collector has had time).
  const rssMB = {
    tracker1: rssField(t1.proc.pid, "VmRSS") / 1024,
    tracker2: rssField(t2.proc.pid, "VmRSS") / 1024,
  };
  return {
    targetMB: mb,
    stateBytes,
    groups: big?.groups.length ?? 0,
    buildS,
    restartS,
    catchUpS,
    transferS,
    readS,
    storeS,
    sendS,
    sendWaitS,
    catchUpCpuS,
    catchUpMBps: stateBytes / 1e6 / catchUpS,
    rssMB,
    settledMB,
    peakMB,
    listFirstMs,
    listLastMs,
    listed,
    closedOpsPerSecond: closed.opsPerSecond,
    p99Rounds,
    load: [loadStart, loadavg()[0] ?? 0],
  };
}

/** Seeds tracker 1 of `cluster` with the load's users and groups and logs the simulated clients in. */
async function loadClients(cluster: Cluster) {
  await seedTracker(cluster.slots[0]!.port, LOAD.users);
  const { clients } = await loginClients(cluster.slots[0]!.port, { count: LOAD.clients, users: LOAD.users });
  return clients;
}

/** User + system CPU seconds of process `pid` so far (/proc/<pid>/stat, in clock ticks of 10 ms). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** The middle value (the mean of the two middle ones for an even count). */
function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? (sorted[mid] ?? Number.NaN) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/** One block of figures per size, each with its target. */
export function printScale(results: ScaleResult[]): void {
  const out = (line: string) => console.log(line);
  out("scale figures (2 trackers on 127.0.0.1, this machine):");
  for (const r of results) {
    const stateMB = r.stateBytes / 1e6;
    const rssLimit = SCALE_TARGETS.rssOverState * (r.stateBytes / 1024 / 1024) + SCALE_TARGETS.rssExtraMB;
    const rss = Math.max(r.settledMB.tracker1, r.settledMB.tracker2);
    const restart = [...r.restartS].sort((a, b) => a - b);
    out(
      `  state ${stateMB.toFixed(1)} MB (${r.groups} groups with 200-byte ids, users, 4 GiB files; load average ${r.load[0].toFixed(1)} -> ${r.load[1].toFixed(1)}):`,
    );
    out(
      `    restart to listening   ${restart[1]?.toFixed(2)} s median (${restart.map((s) => s.toFixed(2)).join(", ")})`,
    );
    if (r.targetMB > 0) {
      out(
        `    wiped-tracker catch-up ${r.catchUpS.toFixed(2)} s from its start (${r.transferS.toFixed(2)} s from the first byte), ${r.catchUpMBps.toFixed(1)} MB/s (target >= ${SCALE_TARGETS.catchUpMBps} MB/s: ${r.catchUpMBps >= SCALE_TARGETS.catchUpMBps ? "met" : "missed"})`,
      );
      out(
        `      where it went        receiver ${r.readS.toFixed(2)} s decoding and building, ${r.storeS.toFixed(2)} s storing chunks; sender ${r.sendS.toFixed(2)} s sending, ${r.sendWaitS.toFixed(2)} s of it waiting for the link`,
      );
      out(
        `      CPU                  tracker 2 ${r.catchUpCpuS.tracker2.toFixed(2)} s (from its start: ${(stateMB / r.catchUpCpuS.tracker2).toFixed(0)} MB per CPU second), tracker 1 ${r.catchUpCpuS.tracker1.toFixed(2)} s`,
      );
    }
    out(
      `    RSS settled            tracker 1 ${r.settledMB.tracker1.toFixed(0)} MiB, tracker 2 ${r.settledMB.tracker2.toFixed(0)} MiB (target <= 3x the state + 100 MiB = ${rssLimit.toFixed(0)} MiB: ${rss <= rssLimit ? "met" : "missed"}); peak ${r.peakMB.tracker1.toFixed(0)} / ${r.peakMB.tracker2.toFixed(0)} MiB; after the load ${r.rssMB.tracker1.toFixed(0)} / ${r.rssMB.tracker2.toFixed(0)} MiB`,
    );
    out(
      `    list_groups            first line ${r.listFirstMs.toFixed(0)} ms, last ${r.listLastMs.toFixed(0)} ms, ${r.listed} lines`,
    );
    out(`    tracker ops            ${r.closedOpsPerSecond.toFixed(0)} ops/s closed loop`);
    if (r.p99Rounds.length > 0) {
      const ratios = r.p99Rounds.map((x) => x.loadedMs / x.emptyMs);
      const ratio = median(ratios);
      const met = ratio <= SCALE_TARGETS.p99OverEmpty ? "met" : "missed";
      out(
        `    p99 paced ${LOAD.pacedRate}/s     ${median(r.p99Rounds.map((x) => x.loadedMs)).toFixed(1)} ms here, ${median(r.p99Rounds.map((x) => x.emptyMs)).toFixed(1)} ms empty (medians of ${r.p99Rounds.length} interleaved rounds); ratio ${ratio.toFixed(2)}x median, ${Math.min(...ratios).toFixed(2)}..${Math.max(...ratios).toFixed(2)}x over the rounds${r.targetMB >= 100 ? ` (target <= ${SCALE_TARGETS.p99OverEmpty}x: ${met})` : ""}; p50 here ${median(r.p99Rounds.map((x) => x.loadedP50Ms)).toFixed(2)} ms`,
      );
    }
  }
}

/** Writes the figures to bench/results/<time>-scale.json. */
export function saveScale(results: ScaleResult[]): string {
  const dir = join(REPO_ROOT, "bench", "results");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${new Date().toISOString().replaceAll(":", "-").replace(".", "-")}-scale.json`);
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  return file;
}
