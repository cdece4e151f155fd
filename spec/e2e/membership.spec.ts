// spec/e2e/membership.spec.ts: any line of tracker_info.txt can be removed. Trackers are known in
// the replicated state by a node id from their line's address (or pinned id), not by line number,
// so removing the middle line renumbers tracker 3 on the command line and nothing else; and data
// dirs written when node ids were line numbers are taken over.
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { nodeIdOf } from "../../lib/config.ts";
import type { Change } from "../../lib/replica/change.ts";
import { type Op, Replica } from "../../lib/replica/replica.ts";
import { Store } from "../../lib/tracker/store.ts";
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

/**
 * Writes the data dirs of a two-tracker cluster as the version that used line numbers as node
 * ids left them: alice (password pw-a) and groups g-from-1 and g-from-2 folded into both bases,
 * and g-only-on-1 in tracker 1's log alone (it never reached tracker 2).
 */
async function writeLegacyDataDirs(cluster: Cluster): Promise<void> {
  const hash = await Bun.password.hash("pw-a", { algorithm: "argon2id", memoryCost: 19_456, timeCost: 2 });
  const nodes = [1, 2];
  const [r1, r2] = nodes.map((n) => new Replica(n, nodes)) as [Replica, Replica]; // cast: two nodes
  let now = Date.now() - 60_000;
  const commit = (r: Replica, change: Change): Op => {
    const { op, outcome } = r.local(change, now++);
    if (!op) throw new Error(`writing legacy data dirs: ${change.kind}: ${JSON.stringify(outcome)}`);
    return op;
  };
  const session = "legacy-session";
  const first = [
    commit(r1, { kind: "create_user", user: "alice", hash }),
    commit(r1, { kind: "login", user: "alice", hash, session, peer: "127.0.0.1:1", key: "legacy-key" }),
    commit(r1, { kind: "create_group", user: "alice", session, group: "g-from-1" }),
  ];
  r2.applyMany(first);
  r1.apply(commit(r2, { kind: "create_group", user: "alice", session, group: "g-from-2" }));
  for (let round = 0; round < 2; round++) {
    const [s1, s2] = [r1.status(), r2.status()];
    r1.receiveStatus(s2);
    r2.receiveStatus(s1);
  }
  expect([r1.compact().length, r2.compact().length]).toEqual([4, 4]);
  commit(r1, { kind: "create_group", user: "alice", session, group: "g-only-on-1" });
  for (const [i, r] of [r1, r2].entries()) {
    const store = new Store(cluster.slots[i]!.dataDir, r.node); // bound to its line number, as then
    store.saveBase(r.baseImage());
    store.append(r.ops);
    store.close();
  }
}

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
    // Said once, not at each of its redials (one a second).
    expect(t1.stderr.text().match(/has no line in tracker_info.txt/g)?.length).toBe(1);
    expect(t1.stderr.text()).not.toContain("closing connection");

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

  test("started without --data-dir after its line number changed, a tracker is told which data dir is its own", async () => {
    const cluster = await makeCluster({ trackers: 2 });
    // Tracker 2's state, in its default data dir (<cwd>/tracker-2.data); then line 1 is removed.
    new Store(cluster.slots[1]!.dataDir, nodeIdOf(cluster.slots[1]!)).close();
    const infoPath = join(cluster.dir, "without-line-1.txt");
    await writeFile(infoPath, `${address(cluster, 2)}\n`);
    const r = await runToExit("tracker", [infoPath, "1"], { cwd: cluster.dir });
    expect({ exitCode: r.exitCode, stderr: r.stderr.trim() }).toEqual({
      exitCode: 2,
      stderr:
        "error: ./tracker-1.data does not exist, but ./tracker-2.data holds this tracker's state (its line number changed): pass --data-dir ./tracker-2.data",
    });
    expect(existsSync(join(cluster.dir, "tracker-1.data"))).toBe(false); // nothing made on the way
  });

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

describe("upgrading from line-number node ids", () => {
  test("data dirs of two trackers written when node ids were line numbers are taken over: state, catch-up and compaction go on", async () => {
    const cluster = await makeCluster({ trackers: 2 });
    await writeLegacyDataDirs(cluster);
    const [t1, t2] = (await startTrackers(cluster)) as [TrackerProcess, TrackerProcess]; // cast: two slots
    for (const t of [t1, t2])
      expect(t.stderr.text()).toContain(`was tracker ${t.no}'s by line number; now node`);
    await settle(cluster);
    const bob = await startClient(cluster, { order: [2] });
    await bob.ok("login alice pw-a");
    // g-only-on-1 was held by tracker 1 alone: an op of origin 1, which no tracker makes now.
    expect(groupIds(await bob.ok("list_groups"))).toEqual(["g-from-1", "g-from-2", "g-only-on-1"]);
    await bob.ok("create_group after-upgrade");
    await waitUntil(
      async () =>
        (await Promise.all([t1, t2].map((t) => t.status()))).every((s) => s.ops === 0 && s.groups === 4),
      { timeoutMs: 15_000, what: "both trackers to hold the new group and fold their logs" },
    );
  });
});
