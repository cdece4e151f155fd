// spec/e2e/partition.spec.ts: the compiled ./tracker and ./client under network partitions
// between trackers (split brain: clients write on both sides) and under SIGKILLs of random
// trackers during a many-client workload. Partitions need network namespaces (root): see
// bench/soak_net.ts for how they are made and why.
import { afterEach, describe, expect, test } from "bun:test";
import { type Account, audit, pinnedClient } from "../../bench/soak_audit.ts";
import { destroyPartitionable, netnsAvailable, PartitionableCluster } from "../../bench/soak_net.ts";
import { Rng } from "../../bench/soak_rng.ts";
import { type ClientProcess, startClient } from "../helpers/client_process.ts";
import { type Cluster, makeCluster, settle, startTrackers } from "../helpers/cluster.ts";
import { stopAll } from "../helpers/processes.ts";

afterEach(async () => {
  await destroyPartitionable();
  await stopAll();
});

const hasNetns = await netnsAvailable();
/** "A few seconds": how long the trackers may take to agree once a partition heals. */
const HEAL_CONVERGE_MS = 8_000;

/** Starts a client trying the trackers in `order`, creates `user` (password `pw-<user>`) and logs in. */
async function userOn(cluster: Cluster, user: string, order: number[]): Promise<ClientProcess> {
  const client = await startClient(cluster, { order });
  await client.ok(`create_user ${user} pw-${user}`);
  await client.ok(`login ${user} pw-${user}`);
  return client;
}

/** The trackers' digests, by tracker number. */
async function digests(cluster: Cluster): Promise<Map<number, string>> {
  const running = [...cluster.trackers.values()].filter((t) => t.running);
  return new Map(await Promise.all(running.map(async (t) => [t.no, (await t.status()).digest] as const)));
}

describe("tracker partition", () => {
  test.skipIf(!hasNetns)(
    "resolves writes made on both sides of a partition by the earlier stamp on every tracker once it heals",
    async () => {
      const net = await PartitionableCluster.create({ trackers: 3, method: "netns" });
      const { cluster } = net;
      await net.start();
      await settle(cluster);
      // Side A is tracker 1; side B is trackers 2 and 3. Clients reach every tracker throughout.
      const olive = await userOn(cluster, "olive", [1, 2, 3]);
      await settle(cluster);
      const oliveB = await startClient(cluster, { order: [2, 3, 1] }); // olive again, on side B
      await oliveB.ok("login olive pw-olive");
      const alice = await userOn(cluster, "alice", [1, 2, 3]);
      const bob = await userOn(cluster, "bob", [2, 3, 1]);
      const joiners = new Map<string, ClientProcess>();
      for (const user of ["rick", "rita", "ray", "rosa"])
        joiners.set(user, await userOn(cluster, user, [3, 2, 1]));
      const dupA = await startClient(cluster, { order: [1, 2, 3] });
      const dupB = await startClient(cluster, { order: [3, 2, 1] });
      for (const g of ["shared", "shared2", "shared3"]) await olive.ok(`create_group ${g}`);
      await settle(cluster);
      await joiners.get("rick")!.ok("join_group shared");
      await joiners.get("rita")!.ok("join_group shared2");
      await joiners.get("ray")!.ok("join_group shared3");
      await joiners.get("rosa")!.ok("join_group shared3");
      const before = await settle(cluster);

      await net.partition([[1], [2, 3]]);
      // Each line runs after the one before, so the stamps (wall-clock ms) follow this order, and
      // every write is acknowledged by its own side. Two writes on different sides within one
      // millisecond are ordered by counter and tracker number, not real time: hence the pauses.
      expect(await dupA.ok("create_user dup pw-a")).toEqual(["user dup created"]); // A first: wins
      await Bun.sleep(3);
      expect(await dupB.ok("create_user dup pw-b")).toEqual(["user dup created"]); // B: void
      await Bun.sleep(3);
      expect(await alice.ok("create_group gdup")).toEqual(["group gdup created; you own it"]); // wins
      await Bun.sleep(3);
      expect(await bob.ok("create_group gdup")).toEqual(["group gdup created; you own it"]); // void
      await Bun.sleep(3);
      // Accepted first, so the later withdrawal on B is a valid leave in stamp order.
      expect(await olive.ok("accept_request shared rick")).toEqual(["rick is now a member of shared"]);
      await Bun.sleep(3);
      expect(await joiners.get("rick")!.ok("leave_group shared")).toEqual(["left shared"]);
      await Bun.sleep(3);
      // Withdrawn first: the later accept on A finds no request and is void.
      expect(await joiners.get("rita")!.ok("leave_group shared2")).toEqual(["left shared2"]);
      await Bun.sleep(3);
      expect(await olive.ok("accept_request shared2 rita")).toEqual(["rita is now a member of shared2"]);
      await Bun.sleep(3);
      // The owner on both sides: accept first wins for ray; reject first wins for rosa.
      expect(await olive.ok("accept_request shared3 ray")).toEqual(["ray is now a member of shared3"]);
      await Bun.sleep(3);
      expect(await oliveB.ok("reject_request shared3 ray")).toEqual([
        "rejected ray's request to join shared3",
      ]);
      await Bun.sleep(3);
      expect(await oliveB.ok("reject_request shared3 rosa")).toEqual([
        "rejected rosa's request to join shared3",
      ]);
      await Bun.sleep(3);
      expect(await olive.ok("accept_request shared3 rosa")).toEqual(["rosa is now a member of shared3"]);
      await Bun.sleep(3);
      // A login with the losing password, and what it does, are void once the partition heals.
      expect(await dupB.ok("login dup pw-b")).toEqual(["logged in as dup (tracker 1)"]);
      await Bun.sleep(3);
      expect(await dupB.ok("create_group voidg")).toEqual(["group voidg created; you own it"]);
      await Bun.sleep(3);
      // Split brain is real: the sides disagree while cut off.
      await Bun.sleep(1_500);
      const apart = await digests(cluster);
      expect(apart.get(2)).toBe(apart.get(3)!);
      expect(apart.get(1)).not.toBe(apart.get(2)!);
      expect(apart.get(1)).not.toBe(before);
      expect((await alice.ok("list_groups")).filter((l) => l.startsWith("gdup "))).toEqual([
        "gdup owner=alice members=1 files=0",
      ]);
      expect((await bob.ok("list_groups")).filter((l) => l.startsWith("gdup "))).toEqual([
        "gdup owner=bob members=1 files=0",
      ]);

      await net.heal();
      const healedAt = Date.now();
      await settle(cluster, { timeoutMs: HEAL_CONVERGE_MS });
      console.log(`partition: 3 trackers agree ${Date.now() - healedAt} ms after the heal`);

      // Every tracker shows the same, and the earlier stamp won every conflict.
      const accounts: Account[] = ["olive", "alice", "bob", "rick", "rita", "ray", "rosa"].map((u) => ({
        user: u,
        password: `pw-${u}`,
        deep: true,
      }));
      accounts.push({ user: "dup", password: "pw-a", deep: true });
      const result = await audit(cluster, accounts, { everyMemberAudited: true });
      expect(result.mismatches).toEqual([]);
      expect(result.breaches).toEqual([]);
      for (const view of result.views) {
        expect(
          [...view.groups.values()].map((g) => `${g.id} owner=${g.owner} members=${g.members}`).sort(),
        ).toEqual([
          "gdup owner=alice members=1",
          "shared owner=olive members=1",
          "shared2 owner=olive members=1",
          "shared3 owner=olive members=2",
        ]);
        expect(view.loggedIn).toEqual(new Set(accounts.map((a) => a.user)));
        expect([...(view.members.get("shared") ?? [])].sort()).toEqual(["olive"]);
        expect([...(view.members.get("shared2") ?? [])].sort()).toEqual(["olive"]);
        expect([...(view.members.get("shared3") ?? [])].sort()).toEqual(["olive", "ray"]);
        for (const g of ["shared", "shared2", "shared3"])
          expect({ g, requests: view.requests.get(g) }).toEqual({ g, requests: [] });
      }
      // The losing password never existed, on any tracker (one failed login each).
      for (const no of [1, 2, 3]) {
        const pinned = await pinnedClient(cluster, no);
        expect((await pinned.run("login dup pw-b")).err).toEqual(["error: wrong user id or password"]);
      }
      // The client that logged in with it no longer has a session anywhere.
      const voided = await dupB.run("create_group voidg2");
      expect(voided.out).toEqual([]);
      expect(voided.err.length).toBe(1);
      await settle(cluster);
      expect((await alice.ok("list_groups")).map((l) => l.split(" ")[0]).sort()).toEqual([
        "gdup",
        "shared",
        "shared2",
        "shared3",
      ]);
    },
    60_000,
  );
});

describe("tracker sync links", () => {
  // lib/wire/limits.ts IDLE_TIMEOUT_S (30 s) closes a connection on which no whole frame arrived
  // for that long. A dialing tracker hears nothing back on its own link while the other tracker
  // has no operation it lacks (statuses flow one way only), so the link must not count as idle.
  test("keeps the links of a quiet cluster up past the idle timeout", async () => {
    const cluster = await makeCluster({ trackers: 3 });
    const trackers = await startTrackers(cluster);
    await Bun.sleep(33_000);
    const lost = trackers.flatMap((t) =>
      t.stderr.lines
        .filter((l) => /sync: lost tracker|idle timeout/.test(l))
        .map((l) => `tracker ${t.no}: ${l}`),
    );
    expect(lost).toEqual([]);
  }, 45_000);
});

describe("tracker crashes under load", () => {
  test("keeps every acknowledged operation when random trackers are SIGKILLed and restarted during a 10-client workload", async () => {
    const seed = Number(process.env.SOAK_SEED ?? Date.now() % 1_000_000);
    console.log(`crash workload seed ${seed} (SOAK_SEED=${seed} replays its choices)`);
    const rng = new Rng(seed);
    const cluster = await makeCluster({ trackers: 3 });
    const trackers = await startTrackers(cluster);
    const clientCount = 10;
    const users = Array.from({ length: clientCount }, (_, i) => `w${i}`);
    const clients = await Promise.all(
      users.map((u, i) => userOn(cluster, u, [1 + (i % 3), 1 + ((i + 1) % 3), 1 + ((i + 2) % 3)])),
    );
    await settle(cluster);

    // What printed success: each must be visible through every tracker afterwards.
    const ackedUsers: Account[] = users.map((u) => ({ user: u, password: `pw-${u}`, deep: true }));
    const ackedGroups = new Map<string, string>(); // group -> owner (nobody leaves here)
    const ackedJoins: [string, string][] = []; // [group, user]: pending or member afterwards
    const ackedAccepts: [string, string][] = []; // [group, user]: member afterwards
    const failures: string[] = [];
    const deadline = Date.now() + 10_000;
    let kills = 0;
    const restarts: Promise<unknown>[] = [];

    const actor = async (i: number) => {
      const me = users[i]!;
      const client = clients[i]!;
      const mine = Rng.derive(seed, me);
      let made = 0;
      let madeUsers = 0;
      const joined = new Set<string>();
      while (Date.now() < deadline) {
        const others = [...ackedGroups.entries()]
          .filter(([g, owner]) => owner !== me && !joined.has(g))
          .map(([g]) => g);
        const owned = [...ackedGroups.entries()].filter(([, owner]) => owner === me).map(([g]) => g);
        const action = mine.weighted({
          user: madeUsers < 3 ? 1 : 0,
          group: made < 3 ? 2 : 0,
          join: others.length > 0 ? 4 : 0,
          accept: owned.length > 0 ? 4 : 0,
          wait: 0.1,
        });
        let line: string;
        if (action === "user") line = `create_user ${me}x${++madeUsers} pw-${me}x${madeUsers}`;
        else if (action === "group") line = `create_group g${i}x${++made}`;
        else if (action === "join") line = `join_group ${mine.pick(others)}`;
        else if (action === "accept") line = `list_requests ${mine.pick(owned)}`;
        else {
          await Bun.sleep(50);
          continue;
        }
        const r = await client.run(line);
        if (r.err.length > 0) {
          failures.push(`${me}: ${line}: ${r.err.join(" ")}`);
          if (r.err.some((e) => e.includes("not logged in"))) await client.run(`login ${me} pw-${me}`);
          continue;
        }
        const [verb = "", arg = ""] = line.split(" ");
        if (verb === "create_user") ackedUsers.push({ user: arg, password: `pw-${arg}` });
        else if (verb === "create_group") ackedGroups.set(arg, me);
        else if (verb === "join_group") {
          ackedJoins.push([arg, me]);
          joined.add(arg);
        } else if (verb === "list_requests" && r.out.length > 0) {
          const who = mine.pick(r.out)!;
          const accepted = await client.run(`accept_request ${arg} ${who}`);
          if (accepted.err.length === 0) ackedAccepts.push([arg, who]);
          else failures.push(`${me}: accept_request ${arg} ${who}: ${accepted.err.join(" ")}`);
        }
        await Bun.sleep(mine.int(0, 40));
      }
    };

    const killer = async () => {
      while (Date.now() < deadline - 1_000) {
        await Bun.sleep(rng.int(700, 1_500));
        const up = trackers.filter((t) => t.ready);
        if (up.length < 2) continue;
        const victim = rng.pick(up)!;
        await victim.kill("SIGKILL");
        kills++;
        const downMs = rng.int(200, 1_500);
        restarts.push(Bun.sleep(downMs).then(() => victim.restart()));
      }
    };

    await Promise.all([...users.map((_, i) => actor(i)), killer()]);
    await Promise.all(restarts); // a restart that fails fails the test here
    expect(trackers.every((t) => t.running)).toBe(true);
    const restartedAt = Date.now();
    await settle(cluster, { timeoutMs: 15_000 });
    console.log(
      `crash workload: ${kills} kills; acknowledged ${ackedUsers.length} users, ${ackedGroups.size} groups, ${ackedJoins.length} joins, ` +
        `${ackedAccepts.length} accepts; ${failures.length} commands failed; agreed ${Date.now() - restartedAt} ms after the last restart`,
    );
    const reasons = new Map<string, number>();
    for (const f of failures) {
      const reason = f.replace(/^[^:]*: \S+ \S+( \S+)?: /, "").replace(/"[^"]*"/g, "…");
      reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
    }
    console.log(`crash workload: failures by reason: ${JSON.stringify(Object.fromEntries(reasons))}`);
    expect(kills).toBeGreaterThanOrEqual(5);

    const auditStart = Date.now();
    const result = await audit(cluster, ackedUsers, { everyMemberAudited: true });
    console.log(`crash workload: audit through 3 trackers took ${Date.now() - auditStart} ms`);
    expect(result.mismatches).toEqual([]);
    expect(result.breaches).toEqual([]);
    const lost: string[] = [];
    for (const view of result.views) {
      const at = `tracker ${view.tracker}`;
      for (const a of ackedUsers) if (!view.loggedIn.has(a.user)) lost.push(`${at}: user ${a.user}`);
      for (const [g, owner] of ackedGroups) {
        if (view.groups.get(g)?.owner !== owner)
          lost.push(`${at}: group ${g} of ${owner} (shows ${JSON.stringify(view.groups.get(g))})`);
      }
      for (const [g, u] of ackedAccepts)
        if (!view.members.get(g)?.has(u)) lost.push(`${at}: ${u} accepted into ${g}`);
      for (const [g, u] of ackedJoins) {
        if (!view.members.get(g)?.has(u) && !view.requests.get(g)?.includes(u))
          lost.push(`${at}: ${u}'s request to join ${g}`);
      }
    }
    expect(lost).toEqual([]);
  }, 60_000);
});
