// The tracker suite: two compiled ./tracker's; a closed-loop and a paced mixed load on tracker 1
// (replication lag sampled during the paced one), replication lag when idle, and login storms.
import { makeCluster, startTrackers } from "../spec/helpers/cluster.ts";
import { stopCluster } from "./ours.ts";
import { cpuSeconds } from "./proc.ts";
import { type LagRun, measureLag, openLagPair } from "./replication_lag.ts";
import {
  figures,
  loginClients,
  type OpFigures,
  runLoad,
  type SteadyRun,
  seedTracker,
} from "./tracker_load.ts";

/** Distinct users behind the simulated clients (each user has a group; clients of one user share it). */
const USERS = 20;

export interface TrackerBenchOptions {
  runs: number;
  clients: number;
  warmupMs: number;
  durationMs: number;
  /** The offered rate of the paced (open-loop) runs, in operations per second. */
  pacedRate: number;
  /** Concurrent fresh logins per login run. */
  logins: number;
  /** Replication lag samples per idle run. */
  lagSamples: number;
  log: (line: string) => void;
  /** Called before each timed run (`--wait-quiet` waits for the machine there). */
  beforeRun: () => Promise<void>;
}

/** CPU use over a run, in percent of one core. */
export interface CpuRun {
  tracker1: number;
  tracker2: number;
  loadGenerator: number;
}

/** Every raw run of the tracker suite. */
export interface TrackerResult {
  /** Closed-loop runs: maximum throughput. */
  steady: SteadyRun[];
  /** Paced runs at `pacedRate`: latency at that load. */
  paced: SteadyRun[];
  pacedRate: number;
  cpu: CpuRun[];
  cpuPaced: CpuRun[];
  lagUnderLoad: LagRun[];
  lagIdle: LagRun[];
  logins: (OpFigures & { perSecond: number; wallS: number })[];
}

export async function benchTracker(options: TrackerBenchOptions): Promise<TrackerResult> {
  const { runs, log } = options;
  const cluster = await makeCluster({ trackers: 2 });
  try {
    const [t1, t2] = await startTrackers(cluster);
    const ports: [number, number] = [cluster.slots[0]!.port, cluster.slots[1]!.port];
    await seedTracker(ports[0], USERS);
    log(
      `tracker: ${USERS} users with a group of files each; logging in ${options.clients} simulated clients (untimed)`,
    );
    const { clients } = await loginClients(ports[0], { count: options.clients, users: USERS });
    const loadedPair = await openLagPair(ports, "lagload");
    const idlePair = await openLagPair(ports, "lagidle");

    const result: TrackerResult = {
      steady: [],
      paced: [],
      pacedRate: options.pacedRate,
      cpu: [],
      cpuPaced: [],
      lagUnderLoad: [],
      lagIdle: [],
      logins: [],
    };
    const pids = [t1!.proc.pid, t2!.proc.pid] as const;
    for (let i = 1; i <= runs; i++) {
      await options.beforeRun();
      const window = { warmupMs: options.warmupMs, durationMs: options.durationMs };
      const closed = await withCpu(pids, () => runLoad(clients, window));
      result.steady.push(closed.value);
      result.cpu.push(closed.cpu);
      // Replication lag is sampled while the paced load runs: the tracker busy, not saturated.
      let loadOver = false;
      const lag = measureLag(loadedPair, { stop: () => loadOver });
      lag.catch(() => {}); // awaited below; never an unhandled rejection if the load run throws first
      const paced = await withCpu(pids, () =>
        runLoad(clients, { ...window, ratePerSecond: options.pacedRate }),
      );
      loadOver = true;
      result.paced.push(paced.value);
      result.cpuPaced.push(paced.cpu);
      result.lagUnderLoad.push(await lag);
      const c = closed.value;
      const p = paced.value;
      log(
        `tracker run ${i}/${runs}: closed loop ${Math.round(c.opsPerSecond)} ops/s (p50 ${c.all.p50Ms.toFixed(2)} ms, p99 ${c.all.p99Ms.toFixed(2)} ms, ` +
          `cpu t1 ${closed.cpu.tracker1.toFixed(0)}% t2 ${closed.cpu.tracker2.toFixed(0)}% gen ${closed.cpu.loadGenerator.toFixed(0)}%); ` +
          `paced at ${options.pacedRate}: ${Math.round(p.opsPerSecond)} ops/s, p50 ${p.all.p50Ms.toFixed(2)} ms, p99 ${p.all.p99Ms.toFixed(2)} ms, ` +
          `${(100 * p.behindSchedule).toFixed(1)}% behind; lag p99 ${result.lagUnderLoad.at(-1)!.p99Ms.toFixed(2)} ms; ${c.failures + p.failures} failed`,
      );
    }
    for (const c of clients) c.conn.close();

    for (let i = 1; i <= runs; i++) {
      await options.beforeRun();
      result.lagIdle.push(await measureLag(idlePair, { count: options.lagSamples }));
      const r = result.lagIdle.at(-1)!;
      log(
        `replication lag idle run ${i}/${runs}: p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms (${r.samples} samples, ${r.beforeAck} before the ack)`,
      );
    }

    for (let i = 1; i <= runs; i++) {
      await options.beforeRun();
      const storm = await loginClients(ports[0], { count: options.logins, users: USERS });
      for (const c of storm.clients) c.conn.close();
      const f = figures(storm.loginMs);
      result.logins.push({ ...f, perSecond: options.logins / storm.wallS, wallS: storm.wallS });
      log(
        `login storm run ${i}/${runs}: ${options.logins} logins in ${storm.wallS.toFixed(2)} s, p50 ${f.p50Ms.toFixed(0)} ms, p99 ${f.p99Ms.toFixed(0)} ms`,
      );
    }
    for (const pair of [loadedPair, idlePair]) {
      pair.writer.close();
      pair.observer.close();
    }
    return result;
  } finally {
    await stopCluster(cluster);
  }
}

/** Runs `f` and measures the CPU the two trackers and this process used meanwhile. */
async function withCpu<T>(
  pids: readonly [number, number],
  f: () => Promise<T>,
): Promise<{ value: T; cpu: CpuRun }> {
  const before = [cpuSeconds(pids[0]), cpuSeconds(pids[1]), process.cpuUsage()] as const;
  const started = performance.now();
  const value = await f();
  const wallS = (performance.now() - started) / 1000;
  const own = process.cpuUsage(before[2]);
  return {
    value,
    cpu: {
      tracker1: (100 * (cpuSeconds(pids[0]) - before[0])) / wallS,
      tracker2: (100 * (cpuSeconds(pids[1]) - before[1])) / wallS,
      loadGenerator: (100 * (own.user + own.system)) / 1e6 / wallS,
    },
  };
}
