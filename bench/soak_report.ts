// The soak's report: what a run did and found, its figures as printed, and the /proc reading
// of a process's resident set. No processes, no network.
import { readFileSync } from "node:fs";
import type { PartitionMethod } from "./soak_net.ts";

/** What a soak run did and found. */
export interface SoakReport {
  seed: number;
  method: PartitionMethod;
  workloadMs: number;
  checksMs: number;
  operations: number;
  acked: Record<string, number>;
  refused: number;
  refusedByReason: Record<string, number>;
  kills: number;
  partitions: number;
  /** Per checkpoint: ms from the heal and last restart until every tracker showed one digest (-1: never). */
  convergeMs: number[];
  divergences: { digests: number; views: number; invariants: number; total: number };
  details: string[];
  /** Observations that are not failures (unfinished downloads and why). */
  notes: string[];
  /**
   * Downloads still unfinished after the final heal although a complete copy was live all along
   * (its uploader's client runs and never leaves the group): a failure, unlike a download that
   * waits because no complete copy is anywhere live.
   */
  couldProgress: string[];
  lostAcks: string[];
  corruptedFiles: number;
  downloads: { started: number; completed: number; failed: number; cancelled: number; unfinished: number };
  sessionsLost: number;
  /** The first few of them, as the actor saw them. */
  sessionsLostLines: string[];
  /** The replicated state's size over the run: [seconds into it, encoded bytes, entries]. */
  stateSize: [number, number, number][];
  stuck: string[];
  crashed: string[];
  /** Peak resident set (VmHWM, KiB) per process, the largest over its restarts. */
  peakRssKiB: Record<string, number>;
  /** Resident set (VmRSS, KiB) per process at the end of the checks. */
  finalRssKiB: Record<string, number>;
  ok: boolean;
}

/** A report with nothing done yet. */
export function emptyReport(seed: number, method: PartitionMethod): SoakReport {
  return {
    seed,
    method,
    workloadMs: 0,
    checksMs: 0,
    operations: 0,
    acked: {},
    refused: 0,
    refusedByReason: {},
    kills: 0,
    partitions: 0,
    convergeMs: [],
    divergences: { digests: 0, views: 0, invariants: 0, total: 0 },
    details: [],
    notes: [],
    couldProgress: [],
    lostAcks: [],
    corruptedFiles: 0,
    downloads: { started: 0, completed: 0, failed: 0, cancelled: 0, unfinished: 0 },
    sessionsLost: 0,
    sessionsLostLines: [],
    stateSize: [],
    stuck: [],
    crashed: [],
    peakRssKiB: {},
    finalRssKiB: {},
    ok: false,
  };
}

/** `field` (VmHWM: peak, VmRSS: now) of a live process's /proc status in KiB (0 once it is gone). */
export function rssField(pid: number, field: "VmHWM" | "VmRSS"): number {
  try {
    const m = readFileSync(`/proc/${pid}/status`, "utf8").match(new RegExp(`^${field}:\\s+(\\d+) kB`, "m"));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Prints the report as figures, one per line. */
export function printReport(r: SoakReport, log: (line: string) => void = (l) => console.log(l)): void {
  const mib = (kib: number) => `${(kib / 1024).toFixed(1)} MiB`;
  const acked = Object.entries(r.acked)
    .map(([k, v]) => `${k} ${v}`)
    .join(", ");
  const topRefused = Object.entries(r.refusedByReason)
    .slice(0, 6)
    .map(([k, v]) => `${v}× ${k}`)
    .join("; ");
  const d = r.divergences;
  log(`soak figures (seed ${r.seed}, partitions by ${r.method}):`);
  log(
    `  duration          ${(r.workloadMs / 1000).toFixed(1)} s of workload + ${(r.checksMs / 1000).toFixed(1)} s of checks`,
  );
  log(`  operations        ${r.operations} acknowledged (${acked})`);
  log(`  refused           ${r.refused} "error:" answers${topRefused ? ` (${topRefused})` : ""}`);
  log(`  kills             ${r.kills} SIGKILLs, each followed by a restart`);
  log(`  partitions        ${r.partitions}`);
  log(
    `  convergence       ${r.convergeMs.map((ms) => (ms < 0 ? "never" : `${ms} ms`)).join(", ")} after heal + restart, per checkpoint`,
  );
  log(`  divergences       ${d.total} (digests ${d.digests}, views ${d.views}, invariants ${d.invariants})`);
  log(`  lost acknowledged ${r.lostAcks.length}`);
  log(
    `  downloads         ${r.downloads.started} started, ${r.downloads.completed} complete, ${r.downloads.failed} failed, ${r.downloads.cancelled} cancelled by leave_group, ${r.downloads.unfinished} unfinished`,
  );
  log(`  corrupted files   ${r.corruptedFiles}`);
  log(`  could progress    ${r.couldProgress.length} unfinished with a complete copy live (must be 0)`);
  log(`  sessions lost     ${r.sessionsLost} (re-logged in)`);
  log(
    `  state size        ${r.stateSize.map(([s, bytes, entries]) => `${s} s ${(bytes / 1024).toFixed(1)} KiB/${entries}`).join(", ")} (seconds in, encoded size/entries)`,
  );
  log(`  stuck commands    ${r.stuck.length}; client crashes ${r.crashed.length}`);
  log(
    `  peak RSS (VmHWM)  ${Object.entries(r.peakRssKiB)
      .map(([k, v]) => `${k} ${mib(v)}`)
      .join(", ")}`,
  );
  log(
    `  RSS at the end    ${Object.entries(r.finalRssKiB)
      .map(([k, v]) => `${k} ${mib(v)}`)
      .join(", ")}`,
  );
  for (const line of [
    ...r.details,
    ...r.lostAcks,
    ...r.couldProgress,
    ...r.sessionsLostLines,
    ...r.stuck.slice(0, 5),
    ...r.crashed,
  ].slice(0, 40))
    log(`  ! ${line}`);
  for (const line of r.notes.slice(0, 10)) log(`  - ${line}`);
  log(`  result            ${r.ok ? "PASS" : "FAIL"}`);
}
