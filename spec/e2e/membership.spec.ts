// spec/e2e/membership.spec.ts: any line of tracker_info.txt can be removed. Trackers are known in
// the replicated state by a node id from their line's address (or pinned id), not by line number,
// so removing the middle line renumbers tracker 3 on the command line and nothing else.
import { afterEach, describe, expect, test } from "bun:test";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { startClient } from "../helpers/client_process.ts";
import { type Cluster, makeCluster, settle, startTrackers } from "../helpers/cluster.ts";
import { runToExit, stopAll } from "../helpers/processes.ts";
import type { TrackerProcess } from "../helpers/tracker_process.ts";
import { waitUntil } from "../helpers/wait.ts";

afterEach(stopAll);

const address = (cluster: Cluster, no: number) => {
  const slot = cluster.slots[no - 1]!;
  return `${slot.host}:${slot.port}`;
};

/** The line numbers a tracker's `status` lists links to, and whether each is up. */
async function linksOf(t: TrackerProcess): Promise<[number, boolean][]> {
  return [...(await t.status()).links].sort((a, b) => a[0] - b[0]);
}

const groupIds = (lines: string[]) => lines.map((l) => l.split(" ")[0]).sort();

describe("removing any line of tracker_info.txt", () => {
  test("the middle tracker removed: state intact, the renumbered tracker serves, compaction goes on, status lists two", async () => {
    const cluster = await makeCluster({ trackers: 3 });
    const [t1, t2, t3] = (await startTrackers(cluster)) as [TrackerProcess, TrackerProcess, TrackerProcess]; // cast: three slots
    const alice = await startClient(cluster, { order: [1] });
    await alice.ok("create_user alice pw-a");
    await alice.ok("login alice pw-a");
    await alice.ok("create_group before");
    await settle(cluster);
    // README's procedure: in sync (same digest), stop tracker 2, delete its line everywhere.
    await t2.quit();
    await alice.ok("create_group while-2-is-down");
    // Still in the file, tracker 2 holds compaction back: the new op stays in the log.
    await Bun.sleep(1_500); // three sync rounds
    expect((await t1.status()).ops).toBeGreaterThan(0);
    const infoPath = join(cluster.dir, "without-line-2.txt");
    await writeFile(infoPath, `${address(cluster, 1)}\n${address(cluster, 3)}\n`);
    // Restart the others one at a time on the new file: tracker 3 is now line 2, `./tracker <file> 2`.
    await t1.restart({ infoPath });
    await t3.restart({ infoPath, no: 2 });
    expect(t3.listeningLine).toStartWith(`tracker 2 listening on ${address(cluster, 3)}`);
    await waitUntil(
      async () => (await linksOf(t1)).join() === "2,true" && (await linksOf(t3)).join() === "1,true",
      { what: "trackers 1 and 2 (formerly 3) to link, and list no other" },
    );
    // The state from before: both list both groups (through a client of the new file's line 2 too).
    const viaNew2 = await startClient(cluster, { order: [3] });
    await viaNew2.ok("login alice pw-a");
    for (const client of [alice, viaNew2])
      expect(groupIds(await client.ok("list_groups"))).toEqual(["before", "while-2-is-down"]);
    // A group made through the renumbered tracker reaches tracker 1.
    await viaNew2.ok("create_group through-new-2");
    await waitUntil(async () => (await alice.ok("list_groups")).some((l) => l.startsWith("through-new-2 ")), {
      what: "tracker 1 to show the group made through the renumbered tracker",
    });
    // Compaction no longer waits for the removed tracker: every op is folded on both.
    await waitUntil(async () => (await t1.status()).ops === 0 && (await t3.status()).ops === 0, {
      timeoutMs: 15_000,
      what: "both trackers to fold their op logs",
    });
    await settle(cluster);
    expect(await linksOf(t1)).toEqual([[2, true]]);
    expect(await linksOf(t3)).toEqual([[1, true]]);

    // The removed tracker comes back on the old file with its old state: refused, it syncs with nobody.
    await t2.restart({ infoPath: cluster.infoPath });
    await t1.stderr.next((l) => l.includes("has no line in tracker_info.txt"), 10_000);
    const viaOld2 = await startClient(cluster, { order: [2] });
    await viaOld2.ok("login alice pw-a");
    await viaOld2.ok("create_group only-on-removed");
    await Bun.sleep(1_500); // three sync rounds
    expect(groupIds(await alice.ok("list_groups"))).toEqual(["before", "through-new-2", "while-2-is-down"]);
    expect((await t2.status()).links.get(1)).toBe(false);

    // Its line added back (at the end, line 3) while it keeps that state: the others stopped
    // waiting for it and compacted without it, so they refuse it until it starts empty.
    await t2.quit();
    const readded = join(cluster.dir, "line-2-added-back.txt");
    await writeFile(readded, `${address(cluster, 1)}\n${address(cluster, 3)}\n${address(cluster, 2)}\n`);
    await t1.restart({ infoPath: readded });
    await t3.restart({ infoPath: readded, no: 2 });
    await t2.restart({ infoPath: readded, no: 3 });
    await Bun.sleep(2_000); // four sync rounds, and its redials: what it made while out is not taken
    for (const t of [t1, t3]) expect((await t.status()).groups).toBe(3);
    expect(t1.stderr.text()).toMatch(
      /sync: tracker 3 was removed from tracker_info.txt and is back with 2 operation\(s\) of its own that we never had .*start it with an empty data dir/,
    );
    // As the log says: its store moved aside (its key kept), it catches up and takes part.
    await t2.quit();
    for (const f of ["tracker.sqlite", "tracker.sqlite-wal", "tracker.sqlite-shm"])
      await rm(join(cluster.slots[1]!.dataDir, f), { force: true });
    await t2.restart({ infoPath: readded, no: 3 });
    await t1.stderr.next((l) => l.includes("lacks nothing of its own: taking part again"), 10_000);
    await settle(cluster);
    expect(groupIds(await viaOld2.ok("list_groups"))).toEqual(["before", "through-new-2", "while-2-is-down"]);
    await alice.ok("create_group with-three-again");
    await waitUntil(
      async () =>
        (await Promise.all([t1, t2, t3].map((t) => t.status()))).every((s) => s.ops === 0 && s.groups === 4),
      { timeoutMs: 15_000, what: "all three to hold the new group and fold their logs" },
    );
  }, 60_000);

  test("a file whose lines give one node id is refused with both lines named, exit 2", async () => {
    const cluster = await makeCluster({ trackers: 1 });
    // Found by search: these two addresses' node ids collide (1 chance in 4 billion per pair).
    const infoPath = join(cluster.dir, "colliding.txt");
    await writeFile(infoPath, "127.0.0.2:38701\n127.0.0.1 9001\n127.0.0.2:39138\n");
    const r = await runToExit("tracker", [infoPath, "2", "--data-dir", join(cluster.dir, "d")]);
    expect({ exitCode: r.exitCode, stderr: r.stderr.trim() }).toEqual({
      exitCode: 2,
      stderr:
        "error: tracker_info.txt lines 1 (127.0.0.2:38701) and 3 (127.0.0.2:39138) give the same node id 2105151182: change the port of one of them",
    });
  });
});
