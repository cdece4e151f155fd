// spec/unit/replica/replica.spec.ts: local changes, applying ops in any order, and request-id dedupe.
import { describe, expect, test } from "bun:test";
import type { Change } from "../../../lib/replica/change.ts";
import { brokenInvariants } from "../../../lib/replica/invariants.ts";
import { type Op, Replica, RID_TTL_MS } from "../../../lib/replica/replica.ts";

const NODES = [1, 2];
const createUser = (user: string, hash = "h"): Change => ({ kind: "create_user", user, hash });
/** u<i> logs in (with hash "h") as s<i> at p<i>. */
const login = (user: string): Change => ({
  kind: "login",
  key: "k",
  user,
  hash: "h",
  session: `s${user.slice(1)}`,
  peer: `p${user.slice(1)}`,
});
const join: Change = { kind: "join_group", user: "u2", session: "s2", group: "g1" };
const withdraw: Change = { kind: "leave_group", user: "u2", session: "s2", group: "g1" };

/** Two trackers that both hold u1 and u2, logged in as s1 and s2, and g1 (owned by u1): five ops of tracker 1. */
function pair(): [Replica, Replica] {
  const a = new Replica(1, NODES);
  const b = new Replica(2, NODES);
  const setup: Change[] = [
    createUser("u1"),
    createUser("u2"),
    login("u1"),
    login("u2"),
    { kind: "create_group", user: "u1", session: "s1", group: "g1" },
  ];
  for (const change of setup) b.apply(a.local(change, 0).op!);
  expect(b.state.groups.has("g1")).toBe(true);
  return [a, b];
}

describe("Replica.local", () => {
  test("returns an op numbered after the tracker's own ops and stamped by its clock", () => {
    const r = new Replica(2, NODES);
    const first = r.local(createUser("u1"), 10).op!;
    const second = r.local(createUser("u2"), 10).op!;
    expect([first.origin, first.seq, first.stamp]).toEqual([2, 1, { wall: 10, count: 0, node: 2 }]);
    expect([second.seq, second.stamp]).toEqual([2, { wall: 10, count: 1, node: 2 }]);
  });

  test("returns no op for a refused change", () => {
    const r = new Replica(1, NODES);
    r.local(createUser("u1"), 0);
    expect(r.local(createUser("u1"), 1)).toEqual({
      outcome: { ok: false, reason: expect.stringContaining("already exists") },
    });
    expect(r.ops.length).toBe(1);
  });
});

describe("Replica.apply", () => {
  test("returns false for an op it already holds, and changes nothing", () => {
    const [a, b] = pair();
    const op = a.local(join, 1).op!;
    expect(b.apply(op)).toBe(true);
    const before = b.state.snapshot();
    expect(b.apply(structuredClone(op))).toBe(false);
    expect(b.state.snapshot()).toEqual(before);
  });

  test("replays an op that arrives late at its stamp's position", () => {
    const [a, b] = pair();
    const early = a.local(createUser("u3", "from-a"), 1).op!;
    b.local(createUser("u3", "from-b"), 2);
    expect(b.state.users.get("u3")).toEqual({ hash: "from-b" });
    b.apply(early);
    expect(b.state.users.get("u3")).toEqual({ hash: "from-a" });
    expect(b.ops.map((op) => op.origin)).toEqual([1, 1, 1, 1, 1, 1, 2]);
  });

  test("gives the same state for every delivery order", () => {
    const [a, b] = pair();
    const setup = [...a.ops];
    const ops: Op[] = [a.local(join, 1).op!, b.local(createUser("u3"), 1).op!, a.local(withdraw, 2).op!];
    const orders = [
      [0, 1, 2],
      [2, 1, 0],
      [1, 2, 0],
      [2, 0, 1],
    ];
    const snapshots = orders.map((order) => {
      const r = new Replica(3, [1, 2, 3]);
      r.applyMany(setup);
      for (const i of order) r.apply(ops[i]!);
      return r.state.snapshot();
    });
    for (const s of snapshots) expect(s).toEqual(snapshots[0]!);
  });

  test("keeps track of held ops across gaps in an origin's numbering", () => {
    const a = new Replica(1, NODES);
    const ops = ["u1", "u2", "u3"].map((u) => a.local(createUser(u), 0).op!);
    const b = new Replica(2, NODES);
    b.apply(ops[2]!);
    expect([b.holds(1, 1), b.holds(1, 3), b.versionVector()]).toEqual([false, true, []]);
    b.applyMany([ops[0]!, ops[1]!]);
    expect(b.versionVector()).toEqual([[1, 3]]);
  });
});

describe("Replica with a gap in an origin's ops", () => {
  test("stays sound, and restorable, when a login and a join arrive before their user's creation", () => {
    // A tracker holding 1:5 and 1:6 but not 1:4 replays a login of a user it does not know yet,
    // and a join through that session; its start-up self-check refuses to serve an unsound
    // state, so a crash then would be fatal. Both are no-ops there until 1:4 arrives.
    const a = new Replica(1, NODES);
    const steps: Change[] = [
      createUser("u3"),
      login("u3"),
      { kind: "create_group", user: "u3", session: "s3", group: "g1" },
      createUser("u1"),
      login("u1"),
      { kind: "join_group", user: "u1", session: "s1", group: "g1" },
    ];
    const ops = steps.map((change) => a.local(change, 0).op!);
    const b = new Replica(2, NODES);
    b.applyMany([ops[0]!, ops[1]!, ops[2]!, ops[4]!, ops[5]!]);
    expect([b.state.sessions.has("s1"), [...b.state.groups.get("g1")!.pending]]).toEqual([false, []]);
    const accept: Change = { kind: "accept_request", user: "u3", session: "s3", group: "g1", member: "u1" };
    expect(b.local(accept, 0).outcome).toEqual({
      ok: false,
      reason: expect.stringContaining('no pending request from "u1"'),
    });
    expect(brokenInvariants(b.state)).toEqual([]);
    expect(brokenInvariants(Replica.restore(2, NODES, { base: b.base(), ops: [...b.ops] }).state)).toEqual(
      [],
    );
    b.apply(ops[3]!);
    expect([...b.state.groups.get("g1")!.pending]).toEqual(["u1"]);
    expect(b.state.snapshot()).toEqual(a.state.snapshot());
  });
});

describe("Replica request ids", () => {
  test("answers a retry on the same tracker with the first outcome and no new op", () => {
    const [a] = pair();
    const first = a.local(join, 1, "r1");
    const retry = a.local(join, 2, "r1");
    expect(first.outcome).toEqual({ ok: true });
    expect(retry).toEqual({ outcome: { ok: true } });
    expect(a.ops.filter((op) => op.rid === "r1").length).toBe(1);
  });

  test("applies a request once even when a retry on another tracker lands after a later change", () => {
    const [a, b] = pair();
    const joined = a.local(join, 1, "r1").op!;
    const withdrawn = a.local(withdraw, 2).op!;
    const retried = b.local(join, 3, "r1").op!; // b had not heard of the first attempt
    for (const r of [a, b]) r.applyMany([joined, withdrawn, retried]);
    for (const r of [a, b]) expect([...r.state.groups.get("g1")!.pending]).toEqual([]);
    expect(a.state.snapshot()).toEqual(b.state.snapshot());
  });

  test("remembers the outcome of a request that became invalid at its position", () => {
    const [a, b] = pair();
    const mine = b.local(createUser("u3", "mine"), 5, "r7").op!;
    expect(b.outcomeOf("r7")).toEqual({ ok: true });
    b.apply(a.local(createUser("u3", "theirs"), 1).op!);
    a.apply(mine);
    for (const r of [a, b])
      expect(r.outcomeOf("r7")).toEqual({
        ok: false,
        reason: expect.stringContaining('user "u3" already exists'),
      });
  });

  test("knows no outcome for a request id it holds no op for", () => {
    const [a] = pair();
    a.local(createUser("u1"), 1, "r2"); // refused before any op exists
    expect(a.outcomeOf("r2")).toBeUndefined();
    expect(a.outcomeOf("never")).toBeUndefined();
  });

  test("forgets a request id once an op stamped RID_TTL_MS later is replayed", () => {
    const [a] = pair();
    a.local(join, 1000, "old");
    a.local(createUser("u3"), 1000 + RID_TTL_MS - 1);
    expect(a.outcomeOf("old")).toEqual({ ok: true });
    a.local(createUser("u4"), 1000 + RID_TTL_MS + 1);
    expect(a.outcomeOf("old")).toBeUndefined();
  });
});
