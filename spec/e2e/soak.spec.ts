// spec/e2e/soak.spec.ts: a short in-process run of the soak (bench/soak.ts): 3 trackers and 6
// clients under random SIGKILLs, restarts and partitions, then the same checks as
// `npm run soak`. SOAK_SEED=N replays a run's random choices.
import { afterEach, describe, expect, test } from "bun:test";
import { soak } from "../../bench/soak.ts";
import { destroyPartitionable } from "../../bench/soak_net.ts";
import { printReport } from "../../bench/soak_report.ts";
import { makeCluster, settle, startTrackers } from "../helpers/cluster.ts";
import { groupOf, MiB, randomFile, tempPath, waitForDownload } from "../helpers/files.ts";
import { stopAll } from "../helpers/processes.ts";

afterEach(async () => {
  await destroyPartitionable();
  await stopAll();
});

describe("soak", () => {
  test("ends a 20 s randomized workload with kills and partitions with no divergence, no lost acknowledgement and no corrupted file", async () => {
    const seed = Number(process.env.SOAK_SEED ?? Math.floor(Math.random() * 2 ** 31));
    const report = await soak({ durationMs: 20_000, seed, log: () => {} });
    printReport(report);
    expect(report.kills).toBeGreaterThan(0);
    expect(report.partitions).toBeGreaterThan(0);
    expect(report.operations).toBeGreaterThan(500);
    expect(report.downloads.completed).toBeGreaterThan(0);
    expect({ seed, divergences: report.divergences.total, details: report.details }).toEqual({
      seed,
      divergences: 0,
      details: [],
    });
    expect({ seed, lost: report.lostAcks }).toEqual({ seed, lost: [] });
    expect({ seed, corrupted: report.corruptedFiles }).toEqual({ seed, corrupted: 0 });
    expect({ seed, couldProgress: report.couldProgress }).toEqual({ seed, couldProgress: [] });
    expect({ seed, crashed: report.crashed }).toEqual({ seed, crashed: [] });
  }, 80_000);
});

describe("soak findings, pinned", () => {
  // Seen in the soak: after a logout and login (or a lost session and a new login) a download
  // that login resumed was no longer listed, so its pieces were offered to nobody.
  test("keeps a download resumed by login registered as a seeder of the file", async () => {
    const cluster = await makeCluster({ trackers: 1 });
    await startTrackers(cluster);
    const [alice, bob] = await groupOf(cluster, ["alice", "bob"]);
    const source = await randomFile(await tempPath("big.bin"), 8 * MiB);
    await alice!.ok(`upload_file ${source} g`);
    // Alice freezes: still live for the tracker a few seconds, but she serves nothing.
    alice!.proc.kill("SIGSTOP");
    const dest = await tempPath("big-copy.bin");
    await bob!.ok(`download_file g big.bin ${dest}`);
    const before = await bob!.ok("list_files g");
    expect(before).toEqual(["big.bin size=8388608 seeders=2"]); // alice, and bob at once
    await bob!.ok("logout");
    expect(await bob!.ok("login bob pw-bob")).toContain(
      "resuming download of big.bin from g: 0 of 16 pieces already verified",
    );
    expect(await bob!.ok("list_files g")).toEqual(before);
    alice!.proc.kill("SIGCONT");
    await waitForDownload(bob!, "g/big.bin");
    await settle(cluster);
    expect(await bob!.ok("list_files g")).toEqual(["big.bin size=8388608 seeders=2"]);
  }, 20_000);
});
