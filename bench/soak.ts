// `npm run soak -- --minutes 10 [--seed N]`: a randomized workload of 3 trackers and 6 clients
// (accounts, groups, join/accept/leave, small uploads and downloads between members) under
// random tracker SIGKILLs + restarts and tracker partitions (bench/soak_net.ts), then checks
// that the trackers agree, that nothing acknowledged was lost and that every download is
// byte-identical to its source. Prints its figures; exits 1 on any divergence, loss or
// corruption. `soak()` runs it in-process (spec/e2e/soak.spec.ts). Stops everything it started.
// SOAK_TRACE=FILE appends every client command and its output to FILE (for digging into a finding).

import { messageOf } from "../lib/errors.ts";
import { startClient } from "../spec/helpers/client_process.ts";
import { settle } from "../spec/helpers/cluster.ts";
import { makeTempDir, stopAll } from "../spec/helpers/processes.ts";
import { CONVERGE_TIMEOUT_MS, digestDivergence, finalChecks } from "./soak_checks.ts";
import { destroyPartitionable, PartitionableCluster, type PartitionMethod } from "./soak_net.ts";
import { emptyReport, printReport, rssField, type SoakReport } from "./soak_report.ts";
import { Rng } from "./soak_rng.ts";
import { Actor, Ledger } from "./soak_workload.ts";

export interface SoakOptions {
  durationMs: number;
  seed: number;
  trackers?: number;
  clients?: number;
  method?: PartitionMethod | "auto";
  /** Pause the workload, heal, restart and check convergence this often (and at the end). */
  checkpointMs?: number;
  /** Where progress lines go (default console.log). */
  log?: (line: string) => void;
}

const RSS_SAMPLE_MS = 1_000;
/** How often the replicated state's size is read from a tracker's status. */
const STATE_SAMPLE_MS = 10_000;

/** Runs the soak; resolves with its report (it never throws for a finding, only for a harness failure). */
export async function soak(options: SoakOptions): Promise<SoakReport> {
  const {
    durationMs,
    seed,
    trackers: trackerCount = 3,
    clients: clientCount = 6,
    checkpointMs = 60_000,
  } = options;
  const log = options.log ?? ((line: string) => console.log(line));
  const chaos = Rng.derive(seed, "chaos");
  const ledger = new Ledger();
  const net = await PartitionableCluster.create({ trackers: trackerCount, method: options.method ?? "auto" });
  const { cluster } = net;
  const peaks = new Map<string, number>();
  const current = new Map<string, number>();
  const sample = (name: string, pid: number) => {
    peaks.set(name, Math.max(peaks.get(name) ?? 0, rssField(pid, "VmHWM")));
    current.set(name, rssField(pid, "VmRSS"));
  };
  const actors: Actor[] = [];
  const sampleAll = () => {
    for (const t of net.trackers) if (t.running) sample(`tracker${t.no}`, t.proc.pid);
    for (const a of actors) if (a.alive) sample(`client ${a.user}`, a.client.proc.pid);
  };
  let sampler: ReturnType<typeof setInterval> | undefined;
  const report = emptyReport(seed, net.method);

  try {
    await net.start();
    await settle(cluster);
    for (let i = 0; i < clientCount; i++) {
      const order = Array.from({ length: trackerCount }, (_, k) => 1 + ((i + k) % trackerCount));
      const client = await startClient(cluster, { order });
      actors.push(
        new Actor({
          user: `u${i + 1}`,
          client,
          rng: Rng.derive(seed, `u${i + 1}`),
          ledger,
          filesDir: await makeTempDir("p2p-soak-files-"),
          downloadsDir: await makeTempDir("p2p-soak-dl-"),
        }),
      );
    }
    for (const a of actors) await a.setUp();
    await settle(cluster);
    sampleAll();
    sampler = setInterval(sampleAll, RSS_SAMPLE_MS);

    const started = Date.now();
    const end = started + durationMs;
    let paused: Promise<void> | undefined;
    let nextCheckpoint = started + checkpointMs;
    // Restarts and heals due later; a checkpoint brings them all forward.
    const scheduled = new Set<{ fire: () => Promise<void> }>();
    const schedule = (delayMs: number, action: () => Promise<void>) => {
      let running: Promise<void> | undefined;
      const entry = {
        fire: () => {
          clearTimeout(timer);
          running ??= action().finally(() => scheduled.delete(entry));
          return running;
        },
      };
      const timer = setTimeout(() => void entry.fire(), delayMs);
      scheduled.add(entry);
    };
    const restarting = new Set<number>();
    let partitionedUntil = 0;

    const act = async (a: Actor) => {
      while (Date.now() < end && a.alive) {
        if (paused) await paused;
        await a.step();
        await Bun.sleep(5);
      }
    };

    /** Pauses the actors, heals and restarts everything, and measures the time to agree. */
    const checkpoint = async (label: string) => {
      let resume!: () => void;
      paused = new Promise((r) => (resume = r));
      await Promise.all([...scheduled].map((e) => e.fire()));
      await net.heal();
      partitionedUntil = 0;
      for (const t of net.trackers) if (!t.running) await net.restart(t.no);
      const t0 = Date.now();
      try {
        await settle(cluster, { timeoutMs: CONVERGE_TIMEOUT_MS });
        report.convergeMs.push(Date.now() - t0);
      } catch (err) {
        report.convergeMs.push(-1);
        report.divergences.digests += await digestDivergence(net.trackers);
        report.details.push(`${label}: ${messageOf(err)}`);
      }
      log(
        `soak: ${label} at ${((Date.now() - started) / 1000).toFixed(0)} s: ${ledger.operations} ops, ${report.kills} kills, ${report.partitions} partitions, agreed in ${report.convergeMs.at(-1)} ms`,
      );
      paused = undefined;
      resume();
    };

    let nextStateSample = 0;
    /** Reads the state's size from a running tracker (sequential with checkpoints: one status reader at a time). */
    const sampleState = async () => {
      const t = net.trackers.find((x) => x.ready);
      if (!t) return;
      const s = await t.status().catch(() => undefined);
      if (s) report.stateSize.push([Math.round((Date.now() - started) / 1000), s.stateBytes, s.entries]);
      nextStateSample = Date.now() + STATE_SAMPLE_MS;
    };

    const chaosLoop = async () => {
      let tick = 0;
      for (;;) {
        if (Date.now() >= nextStateSample) await sampleState();
        const waitMs = chaos.int(800, 3_000);
        const drawn = chaos.weighted({ kill: 4, partition: 3, nothing: 1 });
        // Every run, however short, has at least one partition and one kill.
        const kind = tick === 0 ? "partition" : tick === 1 ? "kill" : drawn;
        tick++;
        const victimPick = chaos.next();
        const downMs = chaos.int(300, 4_000);
        const sideKeys = cluster.slots.map(() => chaos.next());
        const cutAt = chaos.int(1, trackerCount - 1);
        const holdMs = chaos.int(1_500, 8_000);
        await Bun.sleep(waitMs);
        if (Date.now() >= end) return;
        if (Date.now() >= nextCheckpoint) {
          nextCheckpoint += checkpointMs;
          await checkpoint("checkpoint");
          continue;
        }
        if (kind === "kill") {
          const up = net.trackers.filter((t) => t.running && !restarting.has(t.no));
          if (up.length < 2) continue;
          const victim = up[Math.floor(victimPick * up.length)]!;
          sample(`tracker${victim.no}`, victim.proc.pid);
          restarting.add(victim.no);
          await net.kill(victim.no);
          report.kills++;
          schedule(downMs, () =>
            net
              .restart(victim.no)
              .catch(
                (err) =>
                  void report.details.push(`restart of tracker ${victim.no} failed: ${messageOf(err)}`),
              )
              .finally(() => restarting.delete(victim.no)),
          );
        } else if (kind === "partition" && Date.now() >= partitionedUntil) {
          const shuffled = cluster.slots.map((s) => s.no).sort((a, b) => sideKeys[a - 1]! - sideKeys[b - 1]!);
          const sides = [shuffled.slice(0, cutAt).sort(), shuffled.slice(cutAt).sort()];
          await net.partition(sides);
          report.partitions++;
          partitionedUntil = Date.now() + holdMs;
          schedule(holdMs, async () => {
            if (JSON.stringify(net.sides) === JSON.stringify(sides)) await net.heal();
          });
        }
      }
    };

    await Promise.all([...actors.map(act), chaosLoop()]);
    report.workloadMs = Date.now() - started;
    const checksStart = Date.now();
    await checkpoint("final check");
    await sampleState();
    await finalChecks({ cluster, actors, ledger, report, trackers: net.trackers });
    sampleAll();
    report.checksMs = Date.now() - checksStart;
  } finally {
    clearInterval(sampler);
    await destroyPartitionable();
    await stopAll();
  }
  report.operations = ledger.operations;
  report.acked = Object.fromEntries([...ledger.acked].sort());
  report.refused = [...ledger.refused.values()].reduce((a, b) => a + b, 0);
  report.refusedByReason = Object.fromEntries([...ledger.refused].sort((a, b) => b[1] - a[1]));
  report.corruptedFiles = ledger.corrupted.length;
  report.details.push(...ledger.corrupted);
  report.sessionsLost = ledger.sessionsLost;
  report.sessionsLostLines = [...ledger.sessionsLostLines];
  report.stuck = ledger.stuck;
  report.crashed = ledger.crashed;
  report.downloads = {
    started: ledger.downloads.length,
    completed: ledger.downloads.filter((d) => d.state === "C").length,
    failed: ledger.downloads.filter((d) => d.state === "F").length,
    cancelled: ledger.downloads.filter((d) => d.state === "X").length,
    unfinished: ledger.downloads.filter((d) => d.state === "D").length,
  };
  report.peakRssKiB = Object.fromEntries([...peaks].sort());
  report.finalRssKiB = Object.fromEntries([...current].sort());
  const d = report.divergences;
  d.total = d.digests + d.views + d.invariants;
  report.ok =
    d.total === 0 &&
    report.lostAcks.length === 0 &&
    report.corruptedFiles === 0 &&
    report.couldProgress.length === 0 &&
    report.crashed.length === 0;
  return report;
}

/** `--minutes M` (fractional) and `--seed N` from argv. */
function parseArgs(argv: string[]): { minutes: number; seed: number; method: PartitionMethod | "auto" } {
  let minutes = 10;
  let seed = Math.floor(Math.random() * 2 ** 31);
  let method: PartitionMethod | "auto" = "auto";
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    if (arg === "--minutes") minutes = Number(value());
    else if (arg === "--seed") seed = Number(value());
    else if (arg === "--method") {
      const m = value();
      if (m !== "auto" && m !== "netns" && m !== "freeze")
        throw new Error(`--method must be netns or freeze: got ${m}`);
      method = m;
    } else
      throw new Error(
        `unknown argument "${arg}": usage: npm run soak -- [--minutes M] [--seed N] [--method netns|freeze]`,
      );
  }
  if (!(minutes > 0)) throw new Error(`--minutes must be a positive number: got ${minutes}`);
  if (!Number.isInteger(seed) || seed < 0)
    throw new Error(`--seed must be a non-negative integer: got ${seed}`);
  if (!["auto", "netns", "freeze"].includes(method))
    throw new Error(`--method must be netns or freeze: got ${method}`);
  return { minutes, seed, method };
}

if (import.meta.main) {
  let args: ReturnType<typeof parseArgs>;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error(`error: ${messageOf(err)}`);
    process.exit(2);
  }
  const stop = () => void Promise.all([destroyPartitionable(), stopAll()]).finally(() => process.exit(130));
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  const method = args.method === "auto" ? "" : ` --method ${args.method}`;
  console.log(
    `soak: seed ${args.seed} (replay its choices: npm run soak -- --minutes ${args.minutes} --seed ${args.seed}${method})`,
  );
  const report = await soak({ durationMs: args.minutes * 60_000, seed: args.seed, method: args.method });
  printReport(report);
  process.exit(report.ok ? 0 : 1);
}
