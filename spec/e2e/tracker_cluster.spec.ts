// spec/e2e/tracker_cluster.spec.ts: the compiled ./tracker and ./client as real processes on
// 127.0.0.1: every group command through either tracker, replication, failover, crash
// recovery, conflicts, retries, start-up refusals, shutdown and the sync secret.
import { afterEach, describe, expect, test } from "bun:test";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type ClientProcess, startClient } from "../helpers/client_process.ts";
import { type Cluster, makeCluster, settle, startTrackers } from "../helpers/cluster.ts";
import { expectError, expectOut } from "../helpers/expect_output.ts";
import { makeTempDir, runToExit, stopAll } from "../helpers/processes.ts";
import { closeRawSockets, RawSocket } from "../helpers/raw_socket.ts";
import { startRelay } from "../helpers/relay.ts";
import { startTracker } from "../helpers/tracker_process.ts";
import { waitUntil } from "../helpers/wait.ts";

/** A key id as the listening line shows it. */
const ID = "[a-z2-7]{4}(-[a-z2-7]{4}){7}";

afterEach(async () => {
  closeRawSockets();
  await stopAll();
});

/** Starts a client that tries the trackers in `order` and logs in as `user` (created if asked). */
async function loggedIn(
  cluster: Cluster,
  user: string,
  options: { order?: number[]; create?: boolean } = {},
): Promise<ClientProcess> {
  const client = await startClient(cluster, { order: options.order });
  if (options.create) await client.ok(`create_user ${user} pw-${user}`);
  await client.ok(`login ${user} pw-${user}`);
  return client;
}

/** The group ids list_groups shows through `client`. */
async function groupIds(client: ClientProcess): Promise<string[]> {
  return (await client.ok("list_groups")).map((l) => l.split(" ")[0]!).sort();
}

const NOT_LOGGED_IN = "not logged in: run login <user_id> <passwd>";

describe("tracker cluster: commands", () => {
  test("serves accounts and sessions through either tracker with exact output", async () => {
    const cluster = await makeCluster({ trackers: 2 });
    const [t1, t2] = await startTrackers(cluster);
    expect(t1!.listeningLine).toMatch(new RegExp(`^tracker 1 listening on ${t1!.address} id ${ID}$`));
    expect(t2!.listeningLine).toMatch(new RegExp(`^tracker 2 listening on ${t2!.address} id ${ID}$`));
    const alice = await startClient(cluster, { order: [1, 2] });
    const bob = await startClient(cluster, { order: [2, 1] });

    await expectError(alice, "create_group g", NOT_LOGGED_IN);
    await expectError(alice, "list_groups", NOT_LOGGED_IN);
    await expectError(alice, "logout", NOT_LOGGED_IN);
    await expectOut(alice, "create_user alice pw-a", ["user alice created"]);
    await settle(cluster);
    await expectError(bob, "create_user alice other", 'user "alice" already exists: pick another user id');
    await expectError(bob, "login alice wrong", "wrong user id or password");
    await expectError(bob, "login nobody pw", "wrong user id or password");
    await expectOut(alice, "login alice pw-a", ["logged in as alice (tracker 1)"]);
    // A client numbers trackers by the lines of its own file: bob's lists tracker 2 first.
    await expectOut(bob, "login alice pw-a", ["logged in as alice (tracker 1)"]);
    await expectOut(bob, "whoami", [`alice on ${bob.peer} via tracker 1 (${t2!.address})`]);
    await expectOut(alice, "whoami", [`alice on ${alice.peer} via tracker 1 (${t1!.address})`]);
    await expectError(alice, "login alice pw-a", "already logged in as alice: run logout first");
    await expectOut(bob, "logout", ["logged out"]);
    await expectError(bob, "list_groups", NOT_LOGGED_IN);
    await expectOut(bob, "whoami", [`not logged in; peer address ${bob.peer}; tracker 1 (${t2!.address})`]);
    await expectOut(alice, "list_groups", []); // alice's session survives bob's logout
    expect(await alice.close()).toBe(0);
    expect(await bob.close()).toBe(0);
    await settle(cluster);
    expect((await t1!.status()).sessions).toBe(0); // quit logged both out
  }, 30_000);

  test("runs the group workflow across two trackers and three clients with exact output", async () => {
    const cluster = await makeCluster({ trackers: 2 });
    const [t1, t2] = await startTrackers(cluster);
    const alice = await loggedIn(cluster, "alice", { order: [1, 2], create: true });
    const bob = await loggedIn(cluster, "bob", { order: [2, 1], create: true });
    const carol = await loggedIn(cluster, "carol", { order: [1, 2], create: true });
    await expectOut(alice, "whoami", [`alice on ${alice.peer} via tracker 1 (${t1!.address})`]);
    await expectOut(bob, "whoami", [`bob on ${bob.peer} via tracker 1 (${t2!.address})`]);

    await expectOut(alice, "create_group g1", ["group g1 created; you own it"]);
    await settle(cluster);
    await expectError(bob, "create_group g1", 'group "g1" already exists: pick another group id');
    await expectOut(bob, "list_groups", ["g1 owner=alice members=1 files=0"]);
    await expectError(bob, "join_group nosuch", 'no group "nosuch": see list_groups');
    await expectError(alice, "join_group g1", 'you are already a member of "g1"');

    await expectOut(carol, "join_group g1", ["asked to join g1; its owner must accept"]);
    await settle(cluster);
    await expectOut(bob, "join_group g1", ["asked to join g1; its owner must accept"]);
    await expectError(
      bob,
      "join_group g1",
      'your request to join "g1" is already pending: ask its owner alice to accept',
    );
    await settle(cluster);
    await expectError(bob, "list_requests g1", 'only the owner of "g1" (alice) can list its join requests');
    await expectError(
      bob,
      "accept_request g1 carol",
      'only the owner of "g1" (alice) can answer join requests',
    );
    await expectError(alice, "list_requests nosuch", 'no group "nosuch": see list_groups');
    await expectOut(alice, "list_requests g1", ["carol", "bob"]);

    await expectOut(alice, "reject_request g1 carol", ["rejected carol's request to join g1"]);
    await expectError(
      alice,
      "accept_request g1 carol",
      'no pending request from "carol" in "g1": see list_requests g1',
    );
    await expectError(
      alice,
      "reject_request g1 carol",
      'no pending request from "carol" in "g1": see list_requests g1',
    );
    await expectOut(alice, "accept_request g1 bob", ["bob is now a member of g1"]);
    await expectOut(alice, "list_requests g1", []);
    await expectOut(carol, "join_group g1", ["asked to join g1; its owner must accept"]);
    await expectOut(alice, "accept_request g1 carol", ["carol is now a member of g1"]);
    await settle(cluster);
    await expectOut(bob, "list_groups", ["g1 owner=alice members=3 files=0"]);
    await expectError(bob, "join_group g1", 'you are already a member of "g1"');

    // A pending requester may withdraw with leave_group.
    await expectOut(bob, "create_group g2", ["group g2 created; you own it"]);
    await settle(cluster);
    await expectOut(carol, "join_group g2", ["asked to join g2; its owner must accept"]);
    await expectOut(carol, "leave_group g2", ["left g2"]);
    await settle(cluster);
    await expectOut(bob, "list_requests g2", []);
    await expectOut(carol, "list_groups", [
      "g1 owner=alice members=3 files=0",
      "g2 owner=bob members=1 files=0",
    ]);
  }, 30_000);

  test("hands an owner's group to the longest-standing member and removes a group left empty", async () => {
    const cluster = await makeCluster({ trackers: 2 });
    await startTrackers(cluster);
    const alice = await loggedIn(cluster, "alice", { order: [1, 2], create: true });
    const bob = await loggedIn(cluster, "bob", { order: [2, 1], create: true });
    const carol = await loggedIn(cluster, "carol", { order: [1, 2], create: true });

    await alice.ok("create_group g");
    await settle(cluster);
    // carol asks first, but bob is accepted first: bob is the longest-standing member.
    await carol.ok("join_group g");
    await settle(cluster);
    await bob.ok("join_group g");
    await settle(cluster);
    await alice.ok("accept_request g bob");
    await alice.ok("accept_request g carol");
    await settle(cluster);

    await expectOut(alice, "leave_group g", ["left g"]);
    await settle(cluster);
    await expectOut(carol, "list_groups", ["g owner=bob members=2 files=0"]);
    await expectOut(bob, "list_groups", ["g owner=bob members=2 files=0"]);
    await expectError(
      alice,
      "leave_group g",
      'you are not a member of "g": run join_group g and ask its owner to accept',
    );
    await expectError(alice, "list_requests g", 'only the owner of "g" (bob) can list its join requests');
    await alice.ok("join_group g");
    await settle(cluster);
    await expectOut(bob, "list_requests g", ["alice"]);

    await expectOut(bob, "leave_group g", ["left g"]);
    await settle(cluster);
    await expectOut(alice, "list_groups", ["g owner=carol members=1 files=0"]);
    await expectOut(carol, "list_requests g", ["alice"]);
    // The last member leaves: the group goes, pending request and all, on both trackers.
    await expectOut(carol, "leave_group g", ["left g"]);
    await settle(cluster);
    await expectOut(alice, "list_groups", []);
    await expectOut(bob, "list_groups", []);
    await expectError(alice, "join_group g", 'no group "g": see list_groups');
    await expectOut(bob, "create_group g", ["group g created; you own it"]);
    await settle(cluster);
    await expectOut(alice, "list_groups", ["g owner=bob members=1 files=0"]);
  }, 30_000);
});

describe("tracker cluster: replication", () => {
  test("makes an operation acknowledged by tracker 1 visible at tracker 2 within 1 s", async () => {
    const cluster = await makeCluster({ trackers: 2 });
    await startTrackers(cluster);
    const alice = await loggedIn(cluster, "alice", { order: [1, 2], create: true });
    await settle(cluster);
    const bob = await loggedIn(cluster, "bob", { order: [2, 1], create: true });
    const latencies: number[] = [];
    for (let i = 0; i < 5; i++) {
      const sentAt = performance.now();
      await alice.ok(`create_group lat${i}`);
      await waitUntil(async () => (await groupIds(bob)).includes(`lat${i}`), {
        timeoutMs: 1_000,
        intervalMs: 0,
        what: `lat${i} at tracker 2`,
      });
      latencies.push(performance.now() - sentAt);
    }
    const sorted = [...latencies].sort((a, b) => a - b);
    console.log(
      `replication tracker 1 -> tracker 2 (create_group sent at a tracker-1 client until list_groups shows it at a tracker-2 client): ` +
        `min ${sorted[0]!.toFixed(1)} ms, median ${sorted[2]!.toFixed(1)} ms, max ${sorted[4]!.toFixed(1)} ms`,
    );
    expect(sorted[4]!).toBeLessThan(1_000);
  }, 30_000);

  test("pushes an operation at once to a tracker that has just restarted, not at its next sync round", async () => {
    const cluster = await makeCluster({ trackers: 2 });
    const [t1, t2] = await startTrackers(cluster);
    const alice = await loggedIn(cluster, "alice", { order: [1], create: true });
    await t2!.kill("SIGKILL");
    await t2!.restart(); // tracker 2 dials tracker 1 at once; tracker 1 redials tracker 2 later
    const links = (await t1!.status()).line;
    const late: string[] = [];
    for (let i = 0; i < 3; i++) {
      await alice.ok(`create_group p${i}`);
      const seen = await waitUntil(async () => (await t2!.status()).groups === i + 1, {
        timeoutMs: 50,
        intervalMs: 0,
      }).catch(() => false);
      if (!seen) late.push(`p${i}`);
      await Bun.sleep(100);
    }
    // An acknowledged op that only waits for anti-entropy (SYNC_INTERVAL_MS) is lost to the
    // cluster if its tracker crashes in the meantime, sessions included.
    expect({ late, links }).toEqual({ late: [], links });
  }, 30_000);

  test("converges when the same user id is created on both trackers at once", async () => {
    const cluster = await makeCluster({ trackers: 2 });
    const [t1, t2] = await startTrackers(cluster);
    const c1 = await startClient(cluster, { order: [1, 2] });
    const c2 = await startClient(cluster, { order: [2, 1] });
    const ids = ["zed", "yan", "xia"];
    const results = await Promise.all(
      ids.flatMap((id) => [c1.run(`create_user ${id} pw1`), c2.run(`create_user ${id} pw2`)]),
    );
    const acked = results.filter((r) => r.err.length === 0).length;
    console.log(`concurrent create_user: ${acked} of ${results.length} acknowledged for ${ids.length} ids`);
    for (const r of results) {
      expect(r.out.length + r.err.length).toBe(1);
      if (r.err.length > 0)
        expect(r.err[0]).toMatch(/^error: user "\w+" already exists: pick another user id$/);
    }
    await settle(cluster);
    expect((await t1!.status()).users).toBe(ids.length);
    expect((await t2!.status()).users).toBe(ids.length);
    for (const id of ids) {
      const works: string[] = [];
      for (const [name, client] of [
        ["t1", c1],
        ["t2", c2],
      ] as const) {
        for (const pw of ["pw1", "pw2"]) {
          const r = await client.run(`login ${id} ${pw}`);
          if (r.err.length === 0) {
            works.push(`${name}:${pw}`);
            await client.ok("logout");
          } else {
            expect(r.err).toEqual(["error: wrong user id or password"]);
          }
        }
      }
      // Exactly one of the two passwords, and the same one through either tracker.
      expect(works.length).toBe(2);
      expect(works[0]!.slice(3)).toBe(works[1]!.slice(3));
    }
  }, 30_000);
  test("resolves a user id and a group id created on both sides of a partition the same way everywhere", async () => {
    // Different sync secrets keep the two trackers apart; a restart with the same secret heals.
    const cluster = await makeCluster({ trackers: 2 });
    const t1 = await startTracker(cluster, 1, { env: { TRACKER_SECRET: "one" } });
    const t2 = await startTracker(cluster, 2, { env: { TRACKER_SECRET: "two" } });
    const c1 = await startClient(cluster, { order: [1] });
    const c2 = await startClient(cluster, { order: [2] });
    await expectOut(c1, "create_user zed pw1", ["user zed created"]);
    await c1.ok("login zed pw1");
    await expectOut(c1, "create_group g", ["group g created; you own it"]);
    await Bun.sleep(20); // a later wall clock on tracker 2
    await expectOut(c2, "create_user zed pw2", ["user zed created"]);
    await expectOut(c2, "create_user yan pw", ["user yan created"]);
    await c2.ok("login yan pw");
    await expectOut(c2, "create_group g", ["group g created; you own it"]);
    await t2.restart({ env: { TRACKER_SECRET: "one" } });
    await settle(cluster);
    expect((await t1.status()).users).toBe(2);
    // The earlier operation wins on both trackers: zed keeps pw1, g stays zed's.
    for (const client of [c1, c2]) await expectOut(client, "list_groups", ["g owner=zed members=1 files=0"]);
    const probe1 = await startClient(cluster, { order: [1] });
    const probe2 = await startClient(cluster, { order: [2] });
    for (const probe of [probe1, probe2]) {
      await expectError(probe, "login zed pw2", "wrong user id or password");
      await expectOut(probe, "login zed pw1", ["logged in as zed (tracker 1)"]);
    }
  }, 30_000);
});

describe("tracker cluster: failover and recovery", () => {
  test("a client carries on through tracker 2 when tracker 1 is killed, still logged in", async () => {
    const cluster = await makeCluster({ trackers: 2 });
    const [t1, t2] = await startTrackers(cluster);
    const alice = await loggedIn(cluster, "alice", { order: [1, 2], create: true });
    await alice.ok("create_group before");
    expect(await t1!.kill("SIGKILL")).toBe(137);
    const r = await alice.run("create_group after");
    expect(r.out).toEqual(["group after created; you own it"]);
    expect(r.err).toEqual([]);
    await expectOut(alice, "whoami", [`alice on ${alice.peer} via tracker 2 (${t2!.address})`]);
    await expectOut(alice, "list_groups", [
      "before owner=alice members=1 files=0",
      "after owner=alice members=1 files=0",
    ]);
  }, 30_000);

  test("a client keeps its session when its tracker dies just after the other tracker came up", async () => {
    const cluster = await makeCluster({ trackers: 2 });
    const t1 = await startTracker(cluster, 1); // its first dial to tracker 2 fails: tracker 2 is not up yet
    const t2 = await startTracker(cluster, 2); // dials tracker 1 at once
    const alice = await startClient(cluster, { order: [1, 2] });
    await alice.ok("create_user alice pw");
    await expectOut(alice, "login alice pw", ["logged in as alice (tracker 1)"]);
    await t1.kill("SIGKILL");
    const r = await alice.run("create_group g");
    expect({ out: r.out, err: r.err }).toEqual({ out: ["group g created; you own it"], err: [] });
    await expectOut(alice, "whoami", [`alice on ${alice.peer} via tracker 2 (${t2.address})`]);
  }, 30_000);

  test("a tracker still catching up says so to a resume or login it cannot place, rather than 'unknown'", async () => {
    // Alone in a file of two with nothing stored, tracker 1 waits up to 3 s for the other: a
    // session or user unknown to it may exist there, so the client must try again, not give up.
    const cluster = await makeCluster({ trackers: 2 });
    await startTracker(cluster, 1);
    const raw = await RawSocket.connect({ port: cluster.slots[0]!.port });
    const token = crypto.getRandomValues(new Uint8Array(32));
    const catchingUp = {
      ok: false,
      reason: "tracker 1 is catching up with the others: try again in a moment",
    };
    expect(await raw.request({ t: "resume", token })).toMatchObject(catchingUp);
    const login = { t: "login", user: "alice", pass: "pw", peer: "127.0.0.1:9", token };
    expect(await raw.request(login)).toMatchObject(catchingUp);
    // Nobody answered in 3 s: it starts empty, and knows it lacks nothing: now "unknown" is true.
    const after = await waitUntil(
      async () => {
        const reply = await raw.request({ t: "resume", token });
        return reply?.reason === catchingUp.reason ? undefined : reply;
      },
      { timeoutMs: 10_000, intervalMs: 250, what: "tracker 1 to stop catching up" },
    );
    expect(after).toMatchObject({ ok: false, reason: "session unknown to this tracker: log in again" });
    expect(await raw.request(login)).toMatchObject({ ok: false, reason: "wrong user id or password" });
    raw.destroy();
  }, 30_000);

  test("a tracker that lost its state takes no change while another tracker it has not heard from is down, and says which", async () => {
    // Its operations before the loss may have reached only the tracker that is down: numbering
    // on from what tracker 2 shows could reuse one of them, and the two would never converge.
    const cluster = await makeCluster({ trackers: 3 });
    const [t1, t2, t3] = await startTrackers(cluster);
    const alice = await startClient(cluster);
    await expectOut(alice, "create_user alice pw", ["user alice created"]);
    await settle(cluster);
    await t3!.kill("SIGKILL");
    await t1!.kill("SIGKILL");
    for (const f of ["tracker.sqlite", "tracker.sqlite-wal", "tracker.sqlite-shm"])
      await rm(join(cluster.slots[0]!.dataDir, f), { force: true });
    await t1!.restart();
    const waiting = await waitUntil(
      async () => {
        const line = (await t1!.status()).line;
        return line.includes("catching_up=tracker3 ") ? line : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 100, what: "tracker 1 to have heard from tracker 2 only" },
    );
    expect(waiting).toContain("users=1"); // it holds what tracker 2 sent, and waits all the same
    const raw = await RawSocket.connect({ port: cluster.slots[0]!.port });
    const create = { t: "create_user", user: "bob", pass: "pw", rid: "r-bob" };
    expect(await raw.request(create)).toMatchObject({
      ok: false,
      reason: "tracker 1 is catching up with the others: try again in a moment",
    });
    await t3!.restart();
    await waitUntil(async () => !(await t1!.status()).line.includes("catching_up="), {
      timeoutMs: 10_000,
      intervalMs: 100,
      what: "tracker 1 to catch up once tracker 3 answers",
    });
    expect(await raw.request(create)).toMatchObject({ ok: true });
    raw.destroy();
    await settle(cluster);
    expect((await t2!.status()).users).toBe(2);
  }, 40_000);

  test("a restarted tracker catches up with what happened while it was down", async () => {
    const cluster = await makeCluster({ trackers: 2 });
    const [t1, t2] = await startTrackers(cluster);
    const alice = await loggedIn(cluster, "alice", { order: [1, 2], create: true });
    await alice.ok("create_group g1");
    await settle(cluster);
    await t1!.kill("SIGKILL");
    const bob = await loggedIn(cluster, "bob", { order: [2, 1], create: true });
    await bob.ok("create_group g2");
    await alice.ok("create_group g3"); // alice has failed over to tracker 2
    await alice.ok("join_group g2");
    await bob.ok("accept_request g2 alice");

    await t1!.restart();
    const restartedAt = performance.now();
    const pinned = await loggedIn(cluster, "alice", { order: [1, 2] }); // alice was known before the crash
    await expectOut(pinned, "whoami", [`alice on ${pinned.peer} via tracker 1 (${t1!.address})`]);
    await waitUntil(async () => (await groupIds(pinned)).join() === "g1,g2,g3", {
      timeoutMs: 5_000,
      what: "tracker 1 to catch up",
    });
    console.log(
      `restarted tracker 1 caught up ${(performance.now() - restartedAt).toFixed(0)} ms after it printed listening`,
    );
    await expectOut(pinned, "list_groups", [
      "g1 owner=alice members=1 files=0",
      "g2 owner=bob members=2 files=0",
      "g3 owner=alice members=1 files=0",
    ]);
    await settle(cluster);
    // bob was created while tracker 1 was down: it can log in there now.
    const bobAtT1 = await startClient(cluster, { order: [1] });
    await expectOut(bobAtT1, "login bob pw-bob", ["logged in as bob (tracker 1)"]);
    await expectOut(bobAtT1, "list_requests g2", []);
    expect((await t1!.status()).digest).toBe((await t2!.status()).digest);
  }, 30_000);

  test("loses nothing acknowledged when every tracker is killed with SIGKILL and restarted", async () => {
    const cluster = await makeCluster({ trackers: 2 });
    const [t1, t2] = await startTrackers(cluster);
    const alice = await loggedIn(cluster, "alice", { order: [1, 2], create: true });
    const bob = await loggedIn(cluster, "bob", { order: [2, 1], create: true });
    await alice.ok("create_group ga");
    await bob.ok("create_group gb");
    await settle(cluster);
    await bob.ok("join_group ga");
    await alice.ok("join_group gb");
    await settle(cluster);
    await alice.ok("accept_request ga bob");
    // The last acknowledgements, then both trackers die at once with no time to settle.
    await Promise.all([
      alice.ok("create_group last1"),
      bob.ok("create_group last2"),
      bob.ok("create_user carol pw-carol"),
    ]);
    await Promise.all([t1!.kill("SIGKILL"), t2!.kill("SIGKILL")]);
    await Promise.all([t1!.restart(), t2!.restart()]);
    await settle(cluster);

    const expected = [
      "ga owner=alice members=2 files=0",
      "gb owner=bob members=1 files=0",
      "last1 owner=alice members=1 files=0",
      "last2 owner=bob members=1 files=0",
    ];
    for (const order of [[1], [2]]) {
      const carol = await loggedIn(cluster, "carol", { order });
      expect((await carol.ok("list_groups")).sort()).toEqual(expected);
    }
    await expectOut(bob, "list_requests gb", ["alice"]); // and bob's session survived both crashes
    // Killed again, each tracker rebuilds exactly the same state from its own disk.
    const digest = await settle(cluster);
    await Promise.all([t1!.kill("SIGKILL"), t2!.kill("SIGKILL")]);
    await t1!.restart();
    expect((await t1!.status()).digest).toBe(digest);
    await t1!.kill("SIGKILL");
    await t2!.restart();
    expect((await t2!.status()).digest).toBe(digest);
  }, 30_000);

  test("a create_group repeated through tracker 2 after tracker 1 dies is applied once", async () => {
    const cluster = await makeCluster({ trackers: 2 });
    const [t1, t2] = await startTrackers(cluster);
    const alice = await loggedIn(cluster, "alice", { order: [1, 2], create: true });
    await expectOut(alice, "create_group g", ["group g created; you own it"]);
    await t1!.kill("SIGKILL");
    await expectError(alice, "create_group g", 'group "g" already exists: pick another group id');
    await expectOut(alice, "whoami", [`alice on ${alice.peer} via tracker 2 (${t2!.address})`]);
    await expectOut(alice, "list_groups", ["g owner=alice members=1 files=0"]);
    await t1!.restart();
    await settle(cluster);
    expect((await t1!.status()).groups).toBe(1);
  }, 30_000);

  test("a request whose reply was lost is retried through the other tracker and answered as the first time", async () => {
    const cluster = await makeCluster({ trackers: 2 });
    const [t1, t2] = await startTrackers(cluster);
    const relay = startRelay(cluster.slots[0]!); // the client reaches tracker 1 only through the relay
    const alice = await startClient(cluster, { order: [relay.address, 2] });
    await alice.ok("create_user alice pw");
    await alice.ok("login alice pw");
    await settle(cluster);

    relay.dropReplies();
    const pending = alice.run("create_group g");
    // Tracker 1 applies and replicates it, but its reply never arrives; then tracker 1 "dies".
    await waitUntil(async () => (await t2!.status()).groups === 1, { what: "the group to reach tracker 2" });
    relay.cut();
    const r = await pending;
    expect(r.err).toEqual([]);
    expect(r.out).toEqual(["group g created; you own it"]);
    await expectOut(alice, "whoami", [`alice on ${alice.peer} via tracker 2 (${t2!.address})`]);
    await expectOut(alice, "list_groups", ["g owner=alice members=1 files=0"]);
    await settle(cluster);
    expect((await t1!.status()).groups).toBe(1);
  }, 30_000);
});

describe("tracker process", () => {
  test("refuses a malformed tracker_info.txt with exit status 2 and a message naming the line", async () => {
    const dir = await makeTempDir();
    const bad = join(dir, "tracker_info.txt");
    await writeFile(bad, "# trackers\n127.0.0.1 9001\n\n127.0.0.1 notaport\n");
    const r = await runToExit("tracker", [bad, "1", "--data-dir", join(dir, "d")]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr.trim()).toBe(
      'error: tracker_info.txt line 4: port "notaport" is not an integer in 1..65535',
    );
    expect(r.stdout).not.toContain("listening");

    await writeFile(bad, "127.0.0.1 9001\n999.0.0.1:9002\n");
    const r2 = await runToExit("tracker", [bad, "1", "--data-dir", join(dir, "d")]);
    expect(r2.exitCode).toBe(2);
    expect(r2.stderr).toContain("line 2");

    await writeFile(bad, "127.0.0.1 9001\n127.0.0.1 9001\n");
    const r3 = await runToExit("tracker", [bad, "1", "--data-dir", join(dir, "d")]);
    expect(r3.exitCode).toBe(2);
    expect(r3.stderr.trim()).toBe('error: tracker_info.txt line 2: duplicate tracker "127.0.0.1:9001"');
  }, 30_000);

  test("refuses a tracker number outside the file and a missing file with exit status 2", async () => {
    const cluster = await makeCluster({ trackers: 2 });
    const r = await runToExit("tracker", [cluster.infoPath, "3", "--data-dir", join(cluster.dir, "d")]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain("tracker_no must be 1..2");
    const missing = join(cluster.dir, "nope.txt");
    const r2 = await runToExit("tracker", [missing, "1"]);
    expect(r2.exitCode).toBe(2);
    expect(r2.stderr.trim()).toBe(`error: cannot read ${missing}: check the path`);
  }, 30_000);

  test("exits 0 on quit from stdin, on SIGTERM and on SIGINT, and serves again after a restart", async () => {
    const cluster = await makeCluster({ trackers: 1 });
    const t1 = await startTracker(cluster, 1);
    const alice = await startClient(cluster);
    await alice.ok("create_user alice pw");
    expect(await t1.quit()).toBe(0);
    expect(t1.stderr.text()).toContain("stopped");
    for (const signal of ["SIGTERM", "SIGINT"] as const) {
      await t1.restart();
      await t1.status(); // up and serving for a moment
      expect({ signal, code: await t1.kill(signal) }).toEqual({ signal, code: 0 });
    }
    await t1.restart();
    await expectOut(alice, "login alice pw", ["logged in as alice (tracker 1)"]);
  }, 30_000);

  test("exits 0 on SIGTERM sent as soon as it prints listening", async () => {
    const cluster = await makeCluster({ trackers: 1 });
    const t1 = await startTracker(cluster, 1);
    const codes: number[] = [];
    for (let i = 0; i < 10; i++) {
      if (i > 0) await t1.restart();
      codes.push(await t1.kill("SIGTERM"));
    }
    expect(codes).toEqual(codes.map(() => 0)); // 143: the signal came before the handler was installed
  }, 30_000);
});

describe("tracker sync secret", () => {
  /** Waits for one tracker to log that the other failed the secret check, then a few sync rounds. */
  async function expectApart(cluster: Cluster): Promise<void> {
    const [t1, t2] = [cluster.trackers.get(1)!, cluster.trackers.get(2)!];
    const alice = await startClient(cluster, { order: [1] });
    await alice.ok("create_user alice pw");
    await Bun.sleep(2_000); // four sync rounds and a redial
    const [s1, s2] = [await t1.status(), await t2.status()];
    expect({
      t1Users: s1.users,
      t2Users: s2.users,
      t1Link: s1.links.get(2),
      t2Link: s2.links.get(1),
    }).toEqual({
      t1Users: 1,
      t2Users: 0,
      t1Link: false,
      t2Link: false,
    });
  }

  test("a tracker rejects a tracker with a different secret and syncs with one with the same secret", async () => {
    const cluster = await makeCluster({ trackers: 2 });
    const t1 = await startTracker(cluster, 1, { env: { TRACKER_SECRET: "alpha" } });
    const t2 = await startTracker(cluster, 2, { env: { TRACKER_SECRET: "beta" } });
    expect(t1.listeningLine).toMatch(
      new RegExp(`^tracker 1 listening on ${t1.address} id ${ID} \\(sync secret set\\)$`),
    );
    await expectApart(cluster);
    expect(t1.stderr.text() + t2.stderr.text()).toContain("failed the secret check");
    await t2.restart({ env: { TRACKER_SECRET: "alpha" } });
    await settle(cluster);
    expect((await t2.status()).users).toBe(1);
    expect((await t2.status()).links.get(1)).toBe(true);
  }, 30_000);

  test("a tracker with a secret rejects a tracker that has none", async () => {
    const cluster = await makeCluster({ trackers: 2 });
    await startTracker(cluster, 1, { env: { TRACKER_SECRET: "alpha" } });
    await startTracker(cluster, 2);
    await expectApart(cluster);
  }, 30_000);
});

describe("tracker data on disk", () => {
  test("a damaged data dir is refused with a clear message, and a fresh one catches up from the other tracker", async () => {
    const cluster = await makeCluster({ trackers: 2 });
    const [t1] = await startTrackers(cluster);
    const client = await startClient(cluster, { order: [2, 1] });
    await client.ok("create_user dee pw");
    await client.ok("login dee pw");
    await client.ok("create_group kept");
    await settle(cluster);
    await t1!.kill("SIGKILL");
    const db = join(cluster.slots[0]!.dataDir, "tracker.sqlite");
    await rm(`${db}-wal`, { force: true });
    await rm(`${db}-shm`, { force: true });
    await writeFile(db, "this is not a database, it was overwritten by a bad disk".repeat(200));
    const refused = await runToExit(
      "tracker",
      [cluster.infoPath, "1", "--data-dir", cluster.slots[0]!.dataDir],
      { cwd: cluster.dir },
    );
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr.trim().split("\n")).toHaveLength(1);
    expect(refused.stderr).toContain(
      "is damaged; move its tracker.sqlite files aside and start again to resync",
    );
    for (const f of [db, `${db}-wal`, `${db}-shm`]) await rm(f, { force: true }); // what the message says to do
    const id = t1!.listeningLine.split(" id ")[1];
    await t1!.restart();
    expect(t1!.listeningLine.split(" id ")[1]).toBe(id!); // same key: tracker 2 still trusts it
    await settle(cluster);
    const viaOne = await startClient(cluster, { order: [1] });
    await viaOne.ok("login dee pw");
    expect(await viaOne.ok("list_groups")).toEqual(["kept owner=dee members=1 files=0"]);
  }, 30_000);
});
