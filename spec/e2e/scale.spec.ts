// spec/e2e/scale.spec.ts: a cluster whose state outgrows the frame limit (40,000 groups with
// 200-byte ids, about 10.6 MB of base): listings in parts, a wiped tracker catching up, a base transfer
// cut halfway that continues, and trackers added to and removed from tracker_info.txt.
import { afterEach, describe, expect, test } from "bun:test";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { writeBigState } from "../helpers/big_state.ts";
import { startClient } from "../helpers/client_process.ts";
import { type Cluster, makeCluster, settle, waitForLinks } from "../helpers/cluster.ts";
import { CuttingRelays } from "../helpers/cutting_relay.ts";
import { runToExit, stopAll } from "../helpers/processes.ts";
import { startTracker } from "../helpers/tracker_process.ts";
import { waitUntil } from "../helpers/wait.ts";

const GROUPS = 40_000;
let relays: CuttingRelays | undefined;

afterEach(async () => {
  relays?.stop();
  relays = undefined;
  await stopAll();
});

/** Writes a tracker_info.txt listing `lines` (host:port strings) at `path`. */
async function writeInfo(path: string, lines: string[]): Promise<string> {
  await writeFile(path, `${lines.join("\n")}\n`);
  return path;
}

const address = (cluster: Cluster, no: number) => {
  const slot = cluster.slots[no - 1]!;
  return `${slot.host}:${slot.port}`;
};

/**
 * `./tracker <info> <no> --id` (making the slot's key): trackers that reach each other through
 * relays list each other at different addresses, so their lines pin these ids, which then give
 * both sides the same node id for each tracker.
 */
async function idFor(cluster: Cluster, no: number): Promise<string> {
  const r = await runToExit("tracker", [
    cluster.infoPath,
    String(no),
    "--id",
    "--data-dir",
    cluster.slots[no - 1]!.dataDir,
  ]);
  expect({ exitCode: r.exitCode, stderr: r.stderr }).toEqual({ exitCode: 0, stderr: "" });
  return r.stdout.trim();
}

/** Per tracker, a tracker_info.txt listing itself at its address and the others at their relays, every line pinned. */
async function relayedInfos(cluster: Cluster, relayPorts: number[]): Promise<string[]> {
  const ids = await Promise.all(cluster.slots.map((s) => idFor(cluster, s.no)));
  return Promise.all(
    cluster.slots.map((me) =>
      writeInfo(
        join(cluster.dir, `info-${me.no}.txt`),
        cluster.slots.map((s, i) =>
          s.no === me.no ? `${address(cluster, s.no)} ${ids[i]}` : `127.0.0.1:${relayPorts[i]} ${ids[i]}`,
        ),
      ),
    ),
  );
}

describe("a cluster past the frame limit", () => {
  test("lists 40,000 groups and 3,000 files whole, in order, in parts", async () => {
    const cluster = await makeCluster({ trackers: 1 });
    const big = await writeBigState(cluster.slots[0]!.dataDir, 1, { groups: GROUPS, files: 3_000 });
    expect(big.baseBytes).toBeGreaterThan(8 * 1024 * 1024); // over the 8 MiB frame limit
    await startTracker(cluster, 1);
    const client = await startClient(cluster);
    await client.ok(`login ${big.user} ${big.pass}`);
    const groups = await client.ok("list_groups");
    expect(groups.length).toBe(GROUPS);
    expect(groups.map((l) => l.split(" ")[0])).toEqual(big.groups);
    expect(groups[0]).toBe(`${big.groups[0]} owner=${big.user} members=1 files=3000`);
    const files = await client.ok(`list_files ${big.groups[0]}`);
    expect(files.length).toBe(3_000);
    expect(files[2_999]).toBe("file-2999.bin size=1 seeders=0");
  }, 30_000);

  test("a listing cut halfway by a failover goes on through the next tracker, every line once", async () => {
    const cluster = await makeCluster({ trackers: 2 });
    const big = await writeBigState(cluster.slots[0]!.dataDir, 1, { groups: GROUPS });
    await startTracker(cluster, 1);
    await startTracker(cluster, 2);
    await settle(cluster, { timeoutMs: 20_000 }); // tracker 2 holds it all too
    // The client reaches tracker 1 through a relay that cuts everything once, 3 MB into the listing.
    relays = new CuttingRelays(3_000_000);
    const toT1 = relays.relay(cluster.slots[0]!);
    const client = await startClient(cluster, { order: [`127.0.0.1:${toT1}`, 2] });
    await client.ok(`login ${big.user} ${big.pass}`);
    const r = await client.run("list_groups");
    expect(relays.cuts).toBe(1);
    expect(r.err).toEqual([]);
    expect(r.log.join("\n")).toContain("switched to tracker 2");
    expect(r.out.length).toBe(GROUPS);
    expect(r.out.map((l) => l.split(" ")[0])).toEqual(big.groups); // in order, none twice
  }, 40_000);

  test("a tracker with an empty data dir catches up the whole state and serves it", async () => {
    const cluster = await makeCluster({ trackers: 2 });
    const big = await writeBigState(cluster.slots[0]!.dataDir, 1, { groups: GROUPS });
    await startTracker(cluster, 1);
    const t2 = await startTracker(cluster, 2);
    await settle(cluster, { timeoutMs: 20_000 });
    expect(t2.stderr.text()).toContain("sync: adopted compacted base from tracker 1");
    // A client that knows only tracker 2 logs in and sees every group.
    const client = await startClient(cluster, { order: [2] });
    await client.ok(`login ${big.user} ${big.pass}`);
    expect((await client.ok("list_groups")).length).toBe(GROUPS);
    await client.ok("create_group made-on-2");
    await settle(cluster); // and tracker 1 gets what tracker 2 does
    expect((await t2.status()).groups).toBe(GROUPS + 1);
  }, 40_000);

  test("a base transfer cut halfway continues where it stopped", async () => {
    const cluster = await makeCluster({ trackers: 2 });
    const big = await writeBigState(cluster.slots[0]!.dataDir, 1, { groups: GROUPS });
    // Every byte between the trackers goes through relays that cut everything once at 8 MB (of about 10.6).
    relays = new CuttingRelays(8_000_000);
    const toT1 = relays.relay(cluster.slots[0]!);
    const toT2 = relays.relay(cluster.slots[1]!);
    const [info1, info2] = (await relayedInfos(cluster, [toT1, toT2])) as [string, string]; // cast: one per tracker
    const t1 = await startTracker(cluster, 1, { infoPath: info1 });
    const t2 = await startTracker(cluster, 2, { infoPath: info2 });
    await waitUntil(() => t2.stderr.text().includes("sync: adopted compacted base"), {
      timeoutMs: 20_000,
      what: "tracker 2 to adopt the base",
    });
    expect(relays.cuts).toBe(1);
    const log = t2.stderr.text();
    expect(log.match(/receiving compacted base/g)?.length).toBe(1); // never restarted from zero
    const resumed = log.match(/resuming compacted base from tracker 1 at ([\d.]+) MB of ([\d.]+) MB/);
    expect(resumed).not.toBeNull();
    expect(Number(resumed![1])).toBeGreaterThan(0); // what it had read when cut: 1 MiB or more
    expect(Number(resumed![1])).toBeLessThan(Number(resumed![2]));
    await settle(cluster, { timeoutMs: 20_000 });
    expect((await t2.status()).groups).toBe(GROUPS);
    // Tracker 1 sent only the rest, not the whole base again.
    expect(t1.stderr.text()).toMatch(/resuming compacted base for tracker 2 at [\d.]+ MB of [\d.]+ MB/);
    expect(big.groups.length).toBe(GROUPS);
  }, 40_000);
});

describe("membership changes", () => {
  test("a tracker added as a new line catches up and takes part; a removed one is forgotten", async () => {
    const cluster = await makeCluster({ trackers: 3 });
    const two = await writeInfo(join(cluster.dir, "two.txt"), [address(cluster, 1), address(cluster, 2)]);
    const t1 = await startTracker(cluster, 1, { infoPath: two });
    const t2 = await startTracker(cluster, 2, { infoPath: two });
    const alice = await startClient(cluster, { order: [1, 2] });
    await alice.ok("create_user alice pw-a");
    await alice.ok("login alice pw-a");
    await alice.ok("create_group before");
    await settle(cluster);
    // Add line 3: restart the running trackers one at a time on the new file, start the new one empty.
    await t1.restart({ infoPath: cluster.infoPath });
    await t2.restart({ infoPath: cluster.infoPath });
    const t3 = await startTracker(cluster, 3);
    await waitForLinks(cluster);
    await settle(cluster);
    const carol = await startClient(cluster, { order: [3] });
    await carol.ok("create_user carol pw-c");
    await carol.ok("login carol pw-c");
    await carol.ok("create_group through3");
    await waitUntil(async () => (await alice.ok("list_groups")).some((l) => l.startsWith("through3 ")), {
      what: "tracker 1 to show the group made through tracker 3",
    });
    expect((await alice.ok("list_groups")).map((l) => l.split(" ")[0]).sort()).toEqual([
      "before",
      "through3",
    ]);
    // Compaction goes on with three: every op is folded on every tracker.
    await waitUntil(
      async () => (await Promise.all([t1, t2, t3].map((t) => t.status()))).every((s) => s.ops === 0),
      {
        timeoutMs: 15_000,
        what: "all three trackers to compact",
      },
    );
    // Remove line 3: stop it, restart the others on the two-line file; compaction no longer waits for it.
    await t3.quit();
    await t1.restart({ infoPath: two });
    await t2.restart({ infoPath: two });
    await waitForLinks(cluster);
    await alice.ok("create_group after");
    await settle(cluster);
    expect((await t1.status()).links.has(3)).toBe(false);
    await waitUntil(
      async () => (await Promise.all([t1, t2].map((t) => t.status()))).every((s) => s.ops === 0),
      {
        timeoutMs: 15_000,
        what: "the two trackers to compact without tracker 3",
      },
    );
  }, 60_000);
});

describe("session expiry", () => {
  test("a client that vanished without logout loses its session on every tracker; a live one keeps it", async () => {
    const cluster = await makeCluster({ trackers: 2 });
    const args = ["--session-expiry", "6"]; // the shortest allowed: 3 heartbeats
    const t1 = await startTracker(cluster, 1, { args });
    const t2 = await startTracker(cluster, 2, { args });
    await waitForLinks(cluster);
    const live = await startClient(cluster, { order: [2, 1] });
    await live.ok("create_user live pw-l");
    await live.ok("login live pw-l");
    const gone = await startClient(cluster, { order: [1, 2] });
    await gone.ok("create_user gone pw-g");
    await gone.ok("login gone pw-g");
    await gone.ok("create_group gone-group");
    await settle(cluster);
    expect((await t2.status()).sessions).toBe(2);
    await gone.kill("SIGKILL"); // no logout: only its silence tells
    await waitUntil(
      async () => (await Promise.all([t1, t2].map((t) => t.status()))).every((s) => s.sessions === 1),
      {
        timeoutMs: 15_000,
        what: "the vanished client's session to expire on both trackers",
      },
    );
    expect(t1.stderr.text()).toMatch(/expired 1 session\(s\) unheard for 6 s/);
    expect(t2.stderr.text()).not.toMatch(/expired \d+ session/); // tracker 1 decides, once
    await settle(cluster);
    // The live client (heard through tracker 2 only) kept its session all along.
    expect(await live.ok("whoami")).toEqual([`live on ${live.peer} via tracker 1 (${address(cluster, 2)})`]);
  }, 30_000);
});

describe("a session that ended under a live client", () => {
  test("is carried on with its token at the next command: no 'not logged in' the user cannot get out of", async () => {
    const cluster = await makeCluster({ trackers: 1 });
    const t1 = await startTracker(cluster, 1, { args: ["--session-expiry", "6"] });
    const alice = await startClient(cluster);
    await alice.ok("create_user alice pw-a");
    await alice.ok("login alice pw-a");
    await alice.ok("create_group before");
    // Frozen past the expiry (its heartbeats stop) but not the 30 s idle timeout: the connection
    // stays, the tracker ends the session, the client does not know.
    process.kill(alice.proc.pid, "SIGSTOP");
    try {
      await waitUntil(async () => (await t1.status()).sessions === 0, {
        timeoutMs: 20_000,
        what: "the frozen client's session to expire",
      });
    } finally {
      process.kill(alice.proc.pid, "SIGCONT");
    }
    const r = await alice.run("create_group after");
    expect({ out: r.out, err: r.err }).toEqual({ out: ["group after created; you own it"], err: [] });
    expect(alice.stderr.text()).toContain("session carried on at tracker 1 (it had ended there)");
    expect((await t1.status()).sessions).toBe(1);
    // And a logout the tracker cannot place (the session gone) still logs out: login works after.
    await alice.ok("logout");
    await alice.ok("login alice pw-a");
  }, 40_000);
});

describe("failover keeps the session", () => {
  test("a login acknowledged by a tracker that died before passing it on goes on through another", async () => {
    const cluster = await makeCluster({ trackers: 2 });
    // The trackers talk through relays that can hold what they send without closing anything.
    relays = new CuttingRelays();
    const toT1 = relays.relay(cluster.slots[0]!);
    const toT2 = relays.relay(cluster.slots[1]!);
    const [info1, info2] = (await relayedInfos(cluster, [toT1, toT2])) as [string, string]; // cast: one per tracker
    const t1 = await startTracker(cluster, 1, { infoPath: info1 });
    const t2 = await startTracker(cluster, 2, { infoPath: info2 });
    await waitForLinks(cluster);
    const alice = await startClient(cluster, { order: [1, 2] });
    await alice.ok("create_user alice pw-a");
    await settle(cluster);
    relays.hold(); // from here tracker 2 hears nothing from tracker 1
    expect(await alice.ok("login alice pw-a")).toEqual(["logged in as alice (tracker 1)"]);
    await t1.kill("SIGKILL"); // right after the acknowledgement: the login never left tracker 1
    expect((await t2.status()).sessions).toBe(0);
    const r = await alice.run("create_group g");
    expect({ out: r.out, err: r.err }).toEqual({ out: ["group g created; you own it"], err: [] });
    expect(r.log.join("\n")).toContain("session carried on at tracker 2");
    expect(await alice.ok("whoami")).toEqual([
      `alice on ${alice.peer} via tracker 2 (${address(cluster, 2)})`,
    ]);
    // Tracker 1 comes back with its own copy of the login: one session, on both, with its group.
    relays.release();
    await t1.restart();
    await settle(cluster);
    for (const t of [t1, t2]) expect(await t.status()).toMatchObject({ sessions: 1, groups: 1 });
    expect(await alice.ok("list_groups")).toEqual(["g owner=alice members=1 files=0"]);
  }, 40_000);
});
