// The transfer suite: the machine's limits, both download scenarios (reference swarm, then
// ours, each leecher fresh per run), and upload_file against sha1sum, all on one file.
import { join } from "node:path";
import { makeTempDir } from "../spec/helpers/processes.ts";
import { flushDirtyPages, timeDiskWrite, timeSha1sum, timeTcpCopy } from "./machine.ts";
import { startOurSwarm, timeUploads } from "./ours.ts";
import { type DownloadRun, startReferenceSwarm } from "./reference.ts";

/** Download scenarios: seeders to one leecher. */
export const SCENARIOS = [1, 4] as const;

/** Every raw run of the transfer suite. */
export interface TransferResult {
  sha1: string;
  scenarios: { seeders: number; reference: DownloadRun[]; ours: DownloadRun[] }[];
  machine: { sha1sumS: number[]; tcpCopyS: number[]; diskWriteS: number[]; diskWriteSyncS: number[] };
  uploadS: number[];
}

export interface TransferOptions {
  file: string;
  sizeBytes: number;
  runs: number;
  log: (line: string) => void;
  /** Called before each timed run (`--wait-quiet` waits for the machine there). */
  beforeRun: () => Promise<void>;
}

/** Runs the whole suite; every process it starts is stopped before it returns or throws. */
export async function benchTransfers(options: TransferOptions): Promise<TransferResult> {
  const { file, sizeBytes, runs, log, beforeRun } = options;
  const sizeMiB = sizeBytes / 2 ** 20;
  // Generous bounds: the slowest tool seen moves ~15 MiB/s on a loaded 2-core machine.
  const stepTimeoutMs = 60_000 + sizeMiB * 300;
  const scratch = await makeTempDir("p2p-bench-scratch-");

  const machine: TransferResult["machine"] = {
    sha1sumS: [],
    tcpCopyS: [],
    diskWriteS: [],
    diskWriteSyncS: [],
  };
  let sha1 = "";
  for (let i = 1; i <= runs; i++) {
    await beforeRun();
    const s = await timeSha1sum(file, stepTimeoutMs);
    sha1 = s.sha1;
    machine.sha1sumS.push(s.seconds);
    machine.tcpCopyS.push(await timeTcpCopy(file, sizeBytes, stepTimeoutMs));
    machine.diskWriteS.push(
      await timeDiskWrite(file, { dir: scratch, fdatasync: false, timeoutMs: stepTimeoutMs }),
    );
    machine.diskWriteSyncS.push(
      await timeDiskWrite(file, { dir: scratch, fdatasync: true, timeoutMs: stepTimeoutMs }),
    );
    log(
      `machine run ${i}/${runs}: sha1sum ${fmt(machine.sha1sumS)} s, tcp ${fmt(machine.tcpCopyS)} s, dd ${fmt(machine.diskWriteS)} s, dd+sync ${fmt(machine.diskWriteSyncS)} s`,
    );
  }

  const scenarios: TransferResult["scenarios"] = [];
  for (const seeders of SCENARIOS) {
    const scenario: { seeders: number; reference: DownloadRun[]; ours: DownloadRun[] } = {
      seeders,
      reference: [],
      ours: [],
    };
    scenarios.push(scenario);

    const refDir = await makeTempDir("p2p-bench-ref-");
    const ref = await startReferenceSwarm({ dir: refDir, file, seeders, timeoutMs: 24 * 3600_000 });
    try {
      for (let i = 1; i <= runs; i++) {
        await flushDirtyPages(stepTimeoutMs);
        await beforeRun();
        const run = await ref.leech(join(refDir, "leecher"), stepTimeoutMs);
        scenario.reference.push(run);
        log(
          `aria2c ${seeders}->1 run ${i}/${runs}: ${run.seconds.toFixed(2)} s, peak RSS ${mib(run.peakRssBytes)} MiB`,
        );
      }
    } finally {
      await ref.stop();
    }

    const ours = await startOurSwarm({ file, seeders, timeoutMs: stepTimeoutMs });
    try {
      for (let i = 1; i <= runs; i++) {
        await flushDirtyPages(stepTimeoutMs);
        await beforeRun();
        const run = await ours.leech(join(scratch, "leecher"), stepTimeoutMs);
        scenario.ours.push(run);
        log(
          `ours ${seeders}->1 run ${i}/${runs}: ${run.seconds.toFixed(2)} s (client says ${run.reportedSeconds} s), peak RSS ${mib(run.peakRssBytes)} MiB`,
        );
      }
    } finally {
      await ours.stop();
    }
  }

  const uploadS = await timeUploads({ file, runs, timeoutMs: stepTimeoutMs, beforeRun });
  log(`upload_file: ${fmt(uploadS)} s`);
  return { sha1, scenarios, machine, uploadS };
}

function fmt(values: number[]): string {
  return values.at(-1)!.toFixed(3);
}

function mib(bytes: number): string {
  return (bytes / 2 ** 20).toFixed(1);
}
