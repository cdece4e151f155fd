// spec/prop/replica_convergence.spec.ts: trackers converge whatever the network does, and the fuzzer that says so bites.
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import type { Change } from "../../lib/replica/change.ts";
import { brokenInvariants } from "../../lib/replica/invariants.ts";
import type { StampOrder } from "../../lib/replica/replica.ts";
import { fileMeta } from "../helpers/replica_arbitraries.ts";
import { Compact, convergenceProperty, Deliver, Gossip, LocalChange, makeNet, Restart, runSound } from "../helpers/replica_commands.ts";
import { expectConverged, type Net } from "../helpers/replica_net.ts";

const FC_RUNS = Number(process.env.FC_RUNS ?? 1000);

/** Each [tracker, change, nowMs] is committed before any tracker hears of the others; then all is delivered. */
function concurrently(net: Net, changes: [at: number, change: Change, nowMs: number][]): void {
  for (const [at, change, nowMs] of changes) expect(net.local(at, change, nowMs)).toEqual({ ok: true });
  net.drain();
  for (const r of net.replicas) expect(r.state.snapshot()).toEqual(net.replicas[0]!.state.snapshot());
  for (const r of net.replicas) expect(brokenInvariants(r.state)).toEqual([]);
}

/** Two trackers that both know u1 (owner of g1, logged in as s1), u2 and u3, with the given extra setup. */
function twoTrackers(setup: Change[] = []): Net {
  const net = makeNet(2, 1);
  for (const change of [{ kind: "create_group", user: "u1", group: "g1" } as Change, ...setup]) {
    expect(net.local(0, change, 0)).toEqual({ ok: true });
  }
  net.drain();
  return net;
}

const group = (net: Net, at = 0) => net.replicas[at]!.state.snapshot().groups.find((g) => g.id === "g1");
const join = (user: string): Change => ({ kind: "join_group", user, group: "g1" });
const accept = (member: string, user = "u1"): Change => ({ kind: "accept_request", user, group: "g1", member });
const leave = (user: string): Change => ({ kind: "leave_group", user, group: "g1" });

describe("Replica cluster", () => {
  test("converges for any interleaving, loss, duplication, compaction and restart of 2 to 5 trackers", () => {
    fc.assert(convergenceProperty(), { numRuns: FC_RUNS, includeErrorInReport: true });
  }, 300_000);

  test("gives a user id created on two trackers at once the hash of the lower stamp", () => {
    const net = makeNet(2, 0);
    concurrently(net, [[0, { kind: "create_user", user: "u1", hash: "h1" }, 0], [1, { kind: "create_user", user: "u1", hash: "h2" }, 0]]);
    expect(net.replicas[1]!.state.users.get("u1")).toEqual({ hash: "h1" }); // equal wall and count: tracker 1 first

    const later = makeNet(2, 0);
    concurrently(later, [[0, { kind: "create_user", user: "u1", hash: "h1" }, 3], [1, { kind: "create_user", user: "u1", hash: "h2" }, 1]]);
    expect(later.replicas[0]!.state.users.get("u1")).toEqual({ hash: "h2" }); // earlier wall clock wins
  });

  test("leaves a requester outside when the owner accepts while the request is withdrawn", () => {
    for (const [acceptMs, withdrawMs] of [[1, 2], [2, 1]]) {
      const net = twoTrackers([join("u2")]);
      concurrently(net, [[0, accept("u2"), acceptMs], [1, leave("u2"), withdrawMs]]);
      expect(group(net)).toMatchObject({ owner: "u1", members: ["u1"], pending: [] });
    }
  });

  test("lets an accept win only if it is stamped before the owner leaves", () => {
    const first = twoTrackers([join("u2"), accept("u2"), join("u3")]);
    concurrently(first, [[0, leave("u1"), 2], [1, accept("u3"), 1]]);
    expect(group(first)).toMatchObject({ owner: "u2", members: ["u2", "u3"], pending: [] });

    const second = twoTrackers([join("u2"), accept("u2"), join("u3")]);
    concurrently(second, [[0, leave("u1"), 1], [1, accept("u3"), 2]]);
    expect(group(second)).toMatchObject({ owner: "u2", members: ["u2"], pending: ["u3"] });
  });

  test("drops a file shared by a member who leaves the group at the same time", () => {
    for (const [shareMs, leaveMs] of [[1, 2], [2, 1]]) {
      const login: Change = { kind: "login", user: "u2", session: "s2", peer: "p2" };
      const net = twoTrackers([join("u2"), accept("u2"), login]);
      const share: Change = { kind: "share", user: "u2", session: "s2", group: "g1", file: fileMeta("f1", 0) };
      concurrently(net, [[0, share, shareMs], [1, leave("u2"), leaveMs]]);
      expect(group(net)).toMatchObject({ members: ["u1"], files: [] });
    }
  });

  test("keeps an op a restarted tracker stamps below the clock it promised before the restart", () => {
    // Shrunk by the property above: t2 compacts 1:1 and 1:3 while 1:2 is still in flight, then drops 1:2.
    const net = makeNet(2, 0);
    const cmds = [
      new LocalChange(0, { as: "given", change: { kind: "create_user", user: "u1", hash: "h1" } }, 0),
      new Gossip(1),
      new Gossip(0),
      new Restart(0),
      new LocalChange(0, { as: "given", change: { kind: "login", user: "u1", session: "s1", peer: "p1" } }, 0),
      new LocalChange(0, { as: "given", change: { kind: "logout", session: "s1" } }, 0),
      new Deliver(1, 1, false),
      new Compact(1),
    ];
    runSound(net, cmds);
    net.settle();
    expectConverged(net);
  });

  test("stays sound while a tracker holds a join but not the creation of the joining user", () => {
    // Shrunk by the property above: t2 gets op 1:4 (u1 joins g1) before 1:3 (u1 is created).
    const net = makeNet(2, 0);
    const local = (at: number, change: Change) => new LocalChange(at, { as: "given", change }, 0);
    runSound(net, [
      local(0, { kind: "create_user", user: "u3", hash: "h1" }),
      local(0, { kind: "create_group", user: "u3", group: "g1" }),
      new Gossip(0),
      local(0, { kind: "create_user", user: "u1", hash: "h1" }),
      local(0, join("u1")),
      new Deliver(1, 1, false),
      local(1, { kind: "accept_request", user: "u3", group: "g1", member: "u1" }),
    ]);
    expect(net.trace[5]).toBe("t2.deliver(#1): op 1:4@0.4");
    net.settle();
    expectConverged(net);
  });
});

/** Orders stamps by wall clock and counter only: equal stamps from two trackers keep arrival order. */
const withoutTieBreak: StampOrder = (a, b) => a.wall - b.wall || a.count - b.count;

describe("convergence harness", () => {
  test("catches a replica whose replay order ignores the tracker tie-break", () => {
    const out = fc.check(convergenceProperty({ order: withoutTieBreak }), { numRuns: FC_RUNS, seed: 42 });
    expect(out.failed).toBe(true);
  }, 120_000);
});
