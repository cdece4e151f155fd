// spec/prop/replica_convergence.spec.ts: trackers converge whatever the network does, and the fuzzer that says so bites.
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import type { Change } from "../../lib/replica/change.ts";
import { brokenInvariants } from "../../lib/replica/invariants.ts";
import type { StampOrder } from "../../lib/replica/replica.ts";
import { fileMeta } from "../helpers/replica_arbitraries.ts";
import {
  AddNode,
  Compact,
  convergenceProperty,
  Deliver,
  Gossip,
  LocalChange,
  makeNet,
  RemoveNode,
  Restart,
  runSound,
  SendStatus,
} from "../helpers/replica_commands.ts";
import { expectConverged, Net } from "../helpers/replica_net.ts";

const FC_RUNS = Number(process.env.FC_RUNS ?? 1000);

/** Each [tracker, change, nowMs] is committed before any tracker hears of the others; then all is delivered. */
function concurrently(net: Net, changes: [at: number, change: Change, nowMs: number][]): void {
  for (const [at, change, nowMs] of changes) expect(net.local(at, change, nowMs)).toEqual({ ok: true });
  net.drain();
  for (const r of net.replicas) expect(r.state.snapshot()).toEqual(net.replicas[0]!.state.snapshot());
  for (const r of net.replicas) expect(brokenInvariants(r.state)).toEqual([]);
}

/** The session user u<i> acts through in these examples: s<i>, at the address p<i>. */
const sessionOf = (user: string) => `s${user.slice(1)}`;
const login = (user: string, hash = "h0"): Change => ({
  kind: "login",
  key: "k",
  user,
  hash,
  session: sessionOf(user),
  peer: `p${user.slice(1)}`,
});
const join = (user: string, group = "g1"): Change => ({
  kind: "join_group",
  user,
  session: sessionOf(user),
  group,
});
const accept = (member: string, user = "u1"): Change => ({
  kind: "accept_request",
  user,
  session: sessionOf(user),
  group: "g1",
  member,
});
const leave = (user: string): Change => ({
  kind: "leave_group",
  user,
  session: sessionOf(user),
  group: "g1",
});
const createGroup = (user: string, group: string): Change => ({
  kind: "create_group",
  user,
  session: sessionOf(user),
  group,
});

/** Two trackers that both know u1 (owner of g1), u2 and u3, each logged in as s1-s3, with the given extra setup. */
function twoTrackers(setup: Change[] = []): Net {
  const net = makeNet(2, 1);
  const u3: Change = { kind: "create_user", user: "u3", hash: "h0" };
  for (const change of [u3, login("u1"), login("u2"), login("u3"), createGroup("u1", "g1"), ...setup]) {
    expect(net.local(0, change, 0)).toEqual({ ok: true });
  }
  net.drain();
  return net;
}

const group = (net: Net, at = 0) => net.replicas[at]!.state.snapshot().groups.find((g) => g.id === "g1");

describe("Replica cluster", () => {
  test("converges for any interleaving, loss, duplication, compaction and restart of 2 to 5 trackers", () => {
    fc.assert(convergenceProperty(), { numRuns: FC_RUNS, includeErrorInReport: true });
  }, 300_000);

  test("gives a user id created on two trackers at once the hash of the lower stamp", () => {
    const net = makeNet(2, 0);
    concurrently(net, [
      [0, { kind: "create_user", user: "u1", hash: "h1" }, 0],
      [1, { kind: "create_user", user: "u1", hash: "h2" }, 0],
    ]);
    expect(net.replicas[1]!.state.users.get("u1")).toEqual({ hash: "h1" }); // equal wall and count: tracker 1 first

    const later = makeNet(2, 0);
    concurrently(later, [
      [0, { kind: "create_user", user: "u1", hash: "h1" }, 3],
      [1, { kind: "create_user", user: "u1", hash: "h2" }, 1],
    ]);
    expect(later.replicas[0]!.state.users.get("u1")).toEqual({ hash: "h2" }); // earlier wall clock wins
  });

  test("keeps only the winning side's login, session and group when two trackers create one user id with different passwords", () => {
    // Tracker 1 wins on equal stamps, tracker 2 on an earlier wall clock; the loser's login names
    // a hash the user id does not have at its place in the replay, so its session never exists.
    for (const [ms1, ms2, winner] of [
      [0, 0, 0],
      [2, 1, 1],
    ] as const) {
      const net = makeNet(2, 0);
      const side = (n: 1 | 2): Change[] => [
        { kind: "create_user", user: "u1", hash: `h${n}` },
        { kind: "login", key: "k", user: "u1", hash: `h${n}`, session: `s${n}`, peer: `p${n}` },
        { kind: "create_group", user: "u1", session: `s${n}`, group: `g${n}` },
      ];
      concurrently(net, [
        ...side(1).map((c): [number, Change, number] => [0, c, ms1]),
        ...side(2).map((c): [number, Change, number] => [1, c, ms2]),
      ]);
      const n = winner + 1;
      for (const r of net.replicas) {
        expect(r.state.snapshot()).toMatchObject({
          users: [["u1", `h${n}`]],
          sessions: [[`s${n}`, "u1", `p${n}`, "k"]],
          groups: [{ id: `g${n}`, owner: "u1", members: ["u1"] }],
        });
      }
      net.settle();
      expectConverged(net);
    }
  });

  test("voids an act through a session that a logout, or a login at its address, on another tracker ended first", () => {
    const enders: Change[] = [
      { kind: "logout", session: "s2" },
      { kind: "login", key: "k", user: "u3", hash: "h0", session: "s5", peer: "p2" },
    ];
    for (const ender of enders) {
      for (const [endMs, joinMs, pending] of [
        [1, 2, []],
        [2, 1, ["u2"]],
      ] as const) {
        const net = twoTrackers();
        concurrently(net, [
          [0, ender, endMs],
          [1, join("u2"), joinMs],
        ]);
        expect({ ender: ender.kind, endMs, g1: group(net) }).toMatchObject({
          ender: ender.kind,
          endMs,
          g1: { members: ["u1"], pending },
        });
      }
    }
  });

  test("leaves a requester outside when the owner accepts while the request is withdrawn", () => {
    for (const [acceptMs, withdrawMs] of [
      [1, 2],
      [2, 1],
    ] as const) {
      const net = twoTrackers([join("u2")]);
      concurrently(net, [
        [0, accept("u2"), acceptMs],
        [1, leave("u2"), withdrawMs],
      ]);
      expect(group(net)).toMatchObject({ owner: "u1", members: ["u1"], pending: [] });
    }
  });

  test("lets an accept win only if it is stamped before the owner leaves", () => {
    const first = twoTrackers([join("u2"), accept("u2"), join("u3")]);
    concurrently(first, [
      [0, leave("u1"), 2],
      [1, accept("u3"), 1],
    ]);
    expect(group(first)).toMatchObject({ owner: "u2", members: ["u2", "u3"], pending: [] });

    const second = twoTrackers([join("u2"), accept("u2"), join("u3")]);
    concurrently(second, [
      [0, leave("u1"), 1],
      [1, accept("u3"), 2],
    ]);
    expect(group(second)).toMatchObject({ owner: "u2", members: ["u2"], pending: ["u3"] });
  });

  test("drops a file shared by a member who leaves the group at the same time", () => {
    for (const [shareMs, leaveMs] of [
      [1, 2],
      [2, 1],
    ] as const) {
      const net = twoTrackers([join("u2"), accept("u2")]);
      const share: Change = {
        kind: "share",
        user: "u2",
        session: "s2",
        group: "g1",
        file: fileMeta("f1", 0),
      };
      concurrently(net, [
        [0, share, shareMs],
        [1, leave("u2"), leaveMs],
      ]);
      expect(group(net)).toMatchObject({ members: ["u1"], files: [] });
    }
  });

  test("keeps an op a restarted tracker stamps below the clock it promised before the restart", () => {
    // Shrunk by the property above: t2 compacts 1:1 and 1:3 while 1:2 is still in flight, then drops 1:2.
    const net = makeNet(2, 0);
    const cmds = [
      new LocalChange(0, { as: "given", change: { kind: "create_user", user: "u1", hash: "h1" } }, 0),
      new Gossip(),
      new Gossip(),
      new Restart(0),
      new LocalChange(
        0,
        {
          as: "given",
          change: { kind: "login", key: "k", user: "u1", hash: "h1", session: "s1", peer: "p1" },
        },
        0,
      ),
      new LocalChange(0, { as: "given", change: { kind: "logout", session: "s1" } }, 0),
      new Deliver(1, 1, false),
      new Compact(1),
    ];
    runSound(net, cmds);
    net.settle();
    expectConverged(net);
  });

  test("a tracker added to the file takes no change until one with history has answered", () => {
    // Shrunk by the property above: t2 compacts 1:1 after t1 left; t4 and t5 join; t4 hears only
    // t5 (as new as itself) and must not stamp a change below t2's compacted base.
    const net = makeNet(3, 0);
    const createU1 = { as: "given", change: { kind: "create_user", user: "u1", hash: "h1" } } as const;
    runSound(net, [
      new LocalChange(0, createU1, 1),
      new RemoveNode(0),
      new Gossip(),
      new Gossip(),
      new Compact(0),
      new AddNode(),
      new AddNode(),
      new SendStatus(3),
      new Deliver(2, 0, false),
    ]);
    expect(net.replicas[2]!.catchingUp).toBe(true);
    expect(net.local(2, { kind: "create_group", user: "u1", session: "s1", group: "g" }, 0)).toEqual({
      ok: false,
      reason: "tracker 4 is catching up with the others: try again in a moment",
    });
    net.gossip(); // now it hears trackers 2 and 3
    expect(net.replicas.every((r) => !r.catchingUp)).toBe(true);
    expect(net.local(2, { kind: "create_user", user: "u2", hash: "h1" }, 0)).toEqual({ ok: true });
    net.settle();
    expectConverged(net);
  });

  test("a new cluster takes changes once every tracker has said it is new too", () => {
    const net = new Net(3);
    for (let i = 0; i < 3; i++) net.restart(i); // as started: nothing stored, others listed
    expect(net.replicas.every((r) => r.catchingUp)).toBe(true);
    net.gossip();
    expect(net.replicas.map((r) => r.catchingUp)).toEqual([false, false, false]);
  });

  test("stays sound while a tracker holds a login and a join but not the creation of the joining user", () => {
    // Shrunk by the property above (when joins needed no session): t2 got u1's join before u1's
    // creation. Now t2 holds 1:5 (u1 logs in) and 1:6 (u1 joins g1) without 1:4 (u1 is created):
    // the login and so the join are no-ops there, until 1:4 arrives and the replay takes them.
    const net = makeNet(2, 0);
    const local = (at: number, change: Change) => new LocalChange(at, { as: "given", change }, 0);
    runSound(net, [
      local(0, { kind: "create_user", user: "u3", hash: "h1" }),
      local(0, login("u3", "h1")),
      local(0, createGroup("u3", "g1")),
      new Gossip(),
      local(0, { kind: "create_user", user: "u1", hash: "h1" }),
      local(0, login("u1", "h1")),
      local(0, join("u1")),
      new Deliver(1, 1, false),
      new Deliver(1, 1, false),
      local(1, accept("u1", "u3")),
    ]);
    expect(net.trace.slice(7)).toEqual([
      "t2.deliver(#1): op 1:5@0.5",
      "t2.deliver(#1): op 1:6@0.6",
      "t2.local(u3/s3:accept_request(g1,u1)@0): u3/s3:accept_request(g1,u1) refused",
    ]);
    expect(net.replicas[1]!.state.snapshot()).toMatchObject({
      users: [["u3", "h1"]],
      sessions: [["s3", "u3", "p3", "k"]],
    });
    expect(group(net, 1)).toMatchObject({ members: ["u3"], pending: [] });
    net.settle();
    expectConverged(net);
    expect(group(net, 1)).toMatchObject({ members: ["u3"], pending: ["u1"] });
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
