// Entry point of `npm run bench`: measures ours and the reference side by side on one file and
// one machine, prints the table, and writes every figure and raw run to bench/results/.
//   SIZE_MB=1024 npm run bench                 full run (default 1 GiB file)
//   SIZE_MB=64 npm run bench -- --quick        short tracker runs, fewer logins and samples
//   npm run bench -- --only=tracker,startup    any of transfers, tracker, startup
//   npm run bench -- swarm-sim                 simulated flash crowds of 10, 100, 1000 peers vs the bound
//   npm run bench -- swarm                     flash crowds of 4, 8, 16 peers on 100 Mbit/s namespace links,
//                                              ours and aria2c (root; --peers=4,8 for fewer)
//   npm run bench -- --wait-quiet              before each timed run, wait (up to 30 s) until
//                                              other processes leave the machine nearly idle
// Needs ./tracker and ./client (npm run build); installs aria2, opentracker and mktorrent with
// apt-get if they are missing. Binds 127.0.0.1 only.
import { existsSync, mkdirSync, renameSync, statSync, writeFileSync } from "node:fs";
import { cpus, release, totalmem } from "node:os";
import { join } from "node:path";
import { messageOf, stackOf } from "../lib/errors.ts";
import { CLIENT_BIN, makeTempDir, stopAll, TRACKER_BIN } from "../spec/helpers/processes.ts";
import { ContentionMonitor, waitForQuiet } from "./contention.ts";
import { buildFigures, TARGETS } from "./figures.ts";
import { makeRandomFile } from "./machine.ts";
import { stopChildren } from "./proc.ts";
import { timeClientStart, timeTrackerStart } from "./startup.ts";
import { renderTable } from "./table.ts";
import { ensureTools, toolVersions } from "./tools.ts";
import { benchTracker } from "./tracker_bench.ts";
import { benchTransfers } from "./transfer_bench.ts";

const SUITES = ["transfers", "tracker", "startup"] as const;
type Suite = (typeof SUITES)[number];

const args = process.argv.slice(2);
if (args[0] === "swarm-sim") {
  // The swarm simulator needs no binaries, no network and no tools: its own entry point.
  const { runSwarmSimBench } = await import("./swarm_sim_bench.ts");
  process.exit(runSwarmSimBench(args.slice(1)));
}
if (args[0] === "swarm") {
  // The real-lab swarm (network namespaces, tbf links): its own entry point and cleanup.
  const { runSwarmLab } = await import("./swarm_lab.ts");
  process.exit(await runSwarmLab(args.slice(1)));
}
const quick = args.includes("--quick");
const waitQuiet = args.includes("--wait-quiet");
const onlyArg = args.find((a) => a.startsWith("--only="))?.slice("--only=".length);
const unknown = args.filter((a) => a !== "--quick" && a !== "--wait-quiet" && !a.startsWith("--only="));
const sizeMb = Number(process.env.SIZE_MB ?? "1024");
const runs = Number(process.env.RUNS ?? "3");
const isSuite = (name: string): name is Suite => SUITES.some((s) => s === name);
const onlyNames = onlyArg ? onlyArg.split(",") : [...SUITES];
const only = onlyNames.filter(isSuite);
if (only.length !== onlyNames.length) unknown.push(`--only=${onlyArg}`);
if (
  unknown.length > 0 ||
  !Number.isInteger(sizeMb) ||
  sizeMb < 1 ||
  !Number.isInteger(runs) ||
  runs < 3 ||
  only.some((s) => !SUITES.includes(s))
) {
  console.error(
    `error: usage: [SIZE_MB=<MiB, default 1024>] [RUNS=<3 or more>] bun bench/run.ts [--quick] [--wait-quiet] [--only=${SUITES.join(",")}]`,
  );
  process.exit(2);
}
if (!existsSync(TRACKER_BIN) || !existsSync(CLIENT_BIN)) {
  console.error(`error: ${TRACKER_BIN} or ${CLIENT_BIN} is missing: run npm run build first`);
  process.exit(2);
}

/** The tracker suite's shape in each mode (the quick one keeps the whole run under two minutes). */
const LOAD = quick
  ? {
      clients: 200,
      warmupMs: 500,
      durationMs: 3_000,
      pacedRate: TARGETS.trackerOpsPerSecond,
      logins: 40,
      lagSamples: 40,
    }
  : {
      clients: 200,
      warmupMs: 1_000,
      durationMs: 10_000,
      pacedRate: TARGETS.trackerOpsPerSecond,
      logins: 200,
      lagSamples: 150,
    };
/** A whole run is stopped, everything killed and removed, past this. */
const WATCHDOG_MS = quick ? 5 * 60_000 : 90 * 60_000;

const began = performance.now();
const startedAt = new Date();
const log = (line: string) =>
  console.error(`[bench ${((performance.now() - began) / 1000).toFixed(1)}s] ${line}`);

let cleaning: Promise<void> | undefined;
let stopping = false;
/** Kills every process the bench started and removes every temp dir (the big files with them). */
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    await stopChildren();
    await stopAll();
  })();
  return cleaning;
}
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    stopping = true;
    log(`${signal}: stopping everything`);
    void cleanup().then(() => process.exit(130));
  });
}
process.on("unhandledRejection", (err) => log(`unhandled rejection (ignored): ${stackOf(err)}`));
setTimeout(() => {
  log(`still running after ${WATCHDOG_MS / 60_000} min: stopping everything`);
  void cleanup().then(() => process.exit(1));
}, WATCHDOG_MS).unref();

const contention = new ContentionMonitor("setup");
/** Other processes' CPU below this counts as a quiet machine (in cores). */
const QUIET_CORES = 0.15;
const quietWaits = { runs: 0, waitedMs: 0, notQuiet: 0 };
const beforeRun = async (): Promise<void> => {
  if (!waitQuiet) return;
  contention.pause(); // the wait is not part of any measurement
  const { waitedMs, quiet } = await waitForQuiet({ maxMs: 30_000, thresholdCores: QUIET_CORES });
  contention.resume();
  quietWaits.runs++;
  quietWaits.waitedMs += waitedMs;
  if (!quiet) {
    quietWaits.notQuiet++;
    log(`the machine stayed busy for ${(waitedMs / 1000).toFixed(0)} s: measuring anyway`);
  }
};
try {
  const sizeBytes = sizeMb * 2 ** 20;
  const failures: string[] = [];
  /** Runs one suite; a failure is reported with the table, and the other suites still run. */
  const suite = async <T>(name: Suite, f: () => Promise<T>): Promise<T | undefined> => {
    if (!only.includes(name) || stopping) return undefined;
    contention.phase(name);
    try {
      return await f();
    } catch (err) {
      log(`${name} failed: ${stackOf(err)}`);
      failures.push(`${name} suite failed: ${messageOf(err)}`);
      await stopChildren(); // what it left running; temp dirs go at the end
      return undefined;
    }
  };
  const transfers = await suite("transfers", async () => {
    await ensureTools(log);
    const dataDir = await makeTempDir("p2p-bench-data-");
    const file = join(dataDir, `bench-${sizeMb}MiB.bin`);
    log(`writing ${sizeMb} MiB of random bytes to ${file}`);
    await makeRandomFile(file, sizeBytes, 600_000);
    return benchTransfers({ file, sizeBytes, runs, log, beforeRun });
  });
  const tracker = await suite("tracker", () => benchTracker({ runs, ...LOAD, log, beforeRun }));
  const startup = await suite("startup", async () => {
    const times: { trackerS: number[]; clientS: number[] } = { trackerS: [], clientS: [] };
    for (let i = 0; i < Math.max(runs, 5); i++) {
      await beforeRun();
      times.trackerS.push(await timeTrackerStart());
      times.clientS.push(await timeClientStart());
    }
    log(
      `start-up: tracker ${times.trackerS.map((s) => (s * 1000).toFixed(0)).join(", ")} ms; client ${times.clientS.map((s) => (s * 1000).toFixed(0)).join(", ")} ms`,
    );
    return times;
  });

  const others = contention.stop().filter((c) => c.phase !== "setup");
  const shared = others.some((c) => c.meanOtherCores > 0.1);
  const figures = buildFigures({
    sizeBytes,
    transfers,
    tracker,
    startup,
    clients: LOAD.clients,
    logins: LOAD.logins,
  });
  const versions = only.includes("transfers") ? await toolVersions() : {};
  const finishedAt = new Date();
  const cpu = cpus();
  const machine = `${cpu[0]?.model.trim() ?? "unknown CPU"} x${cpu.length}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Linux ${release()}`;
  const title = [
    `p2p-groups bench started ${startedAt.toISOString()}, ${((finishedAt.getTime() - startedAt.getTime()) / 1000).toFixed(0)} s: ${quick ? "quick" : "full"} mode, SIZE_MB=${sizeMb}, ${runs} runs per figure (start-up: ${Math.max(runs, 5)}), each cell median [min..max]`,
    `machine: ${machine}; bun ${Bun.version} (also inside ./tracker and ./client)${
      Object.keys(versions).length
        ? `; ${Object.entries(versions)
            .map(([k, v]) => `${k} ${v}`)
            .join(", ")}`
        : ""
    }`,
    ...(transfers
      ? [
          `file: ${sizeMb} MiB from /dev/urandom, sha1 ${transfers.sha1}; every download checked byte-identical with cmp`,
        ]
      : []),
    `other processes' CPU during each suite (cores of ${ContentionMonitor.cores}, mean/max over 1 s samples): ${others.map((c) => `${c.phase} ${c.meanOtherCores.toFixed(2)}/${c.maxOtherCores.toFixed(2)}`).join(", ") || "n/a (too short)"}` +
      (others.length === 0
        ? ""
        : shared
          ? ": WARNING: the machine was shared while measuring, figures are skewed"
          : " (quiet)") +
      (waitQuiet
        ? `; --wait-quiet waited ${(quietWaits.waitedMs / 1000).toFixed(0)} s before ${quietWaits.runs} runs, ${quietWaits.notQuiet} of them never quiet`
        : ""),
    ...(tracker
      ? [
          `tracker load per run: closed loop, then paced at ${LOAD.pacedRate} ops/s, each ${LOAD.warmupMs / 1000} s warm-up + ${LOAD.durationMs / 1000} s window; login storms of ${LOAD.logins}; ${LOAD.lagSamples} idle lag samples`,
        ]
      : []),
  ];
  console.log(renderTable(figures, title));
  for (const failure of failures) console.log(`\nFAILED: ${failure} (see the log on stderr)`);

  const resultsDir = join(import.meta.dir, "results");
  mkdirSync(resultsDir, { recursive: true });
  const path = join(
    resultsDir,
    `${startedAt.toISOString().replace(/[:.]/g, "-")}${quick ? "-quick" : ""}.json`,
  );
  // Which build was measured: the binaries' modification times (they are not in git).
  const binaries = Object.fromEntries(
    [TRACKER_BIN, CLIENT_BIN].map((b) => [b.slice(b.lastIndexOf("/") + 1), statSync(b).mtime.toISOString()]),
  );
  const json = {
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    failures,
    mode: quick ? "quick" : "full",
    sizeMb,
    runs,
    machine,
    bun: Bun.version,
    versions,
    binaries,
    contention: others,
    quietWaits: waitQuiet ? quietWaits : undefined,
    load: LOAD,
    targets: TARGETS,
    figures,
    raw: { transfers, tracker, startup },
  };
  writeFileSync(`${path}.tmp`, `${JSON.stringify(json, null, 2)}\n`);
  renameSync(`${path}.tmp`, path);
  console.log(`\nfigures and raw runs written to ${path}`);
  log(`done in ${((performance.now() - began) / 1000).toFixed(0)} s`);
  await cleanup();
  process.exit(failures.length > 0 ? 1 : 0);
} catch (err) {
  log(`failed: ${stackOf(err)}`);
  await cleanup();
  process.exit(1);
}
