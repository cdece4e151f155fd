// spec/unit/replica/compaction.spec.ts: statuses, frontiers, compaction, restore and base adoption.
import { describe, expect, test } from "bun:test";
import type { Change } from "../../../lib/replica/change.ts";
import { Replica } from "../../../lib/replica/replica.ts";
import { compareStamps } from "../../../lib/replica/stamp.ts";

const NODES = [1, 2, 3];
const createUser = (user: string, hash = "h"): Change => ({ kind: "create_user", user, hash });

/** Three trackers holding the same five ops (three from t1, two from t2): u1 owns g1, u2 is logged in as s2. */
function trio(): Replica[] {
  const rs = NODES.map((n) => new Replica(n, NODES));
  const steps: [at: number, change: Change, nowMs: number][] = [
    [0, createUser("u1"), 1],
    [0, { kind: "login", key: "k", user: "u1", hash: "h", session: "s1", peer: "p1" }, 2],
    [1, { kind: "create_group", user: "u1", session: "s1", group: "g1" }, 1],
    [0, createUser("u2"), 3],
    [1, { kind: "login", key: "k", user: "u2", hash: "h", session: "s2", peer: "p2" }, 4],
  ];
  for (const [at, change, nowMs] of steps) {
    const { op } = rs[at]!.local(change, nowMs);
    expect(op).toBeDefined();
    for (const r of rs) r.apply(op!);
  }
  return rs;
}

/** Every tracker sends its status to every other one (one gossip round). */
function gossip(rs: Replica[]): void {
  const statuses = rs.map((r) => r.status());
  for (const r of rs) for (const s of statuses) if (s.node !== r.node) r.receiveStatus(s);
}

const restored = (r: Replica) => Replica.restore(r.node, r.nodes, { base: r.base(), ops: [...r.ops] });

describe("Replica.compact", () => {
  test("folds nothing before it has heard every tracker's status", () => {
    const rs = trio();
    expect(rs[0]!.compact()).toEqual([]);
    gossip(rs.slice(0, 2)); // tracker 3 is silent
    expect(rs[0]!.compact()).toEqual([]);
  });

  test("folds every held op once two gossip rounds have passed, and keeps the state", () => {
    const rs = trio();
    const before = rs[0]!.state.snapshot();
    gossip(rs);
    gossip(rs);
    expect(rs[0]!.compact().length).toBe(5);
    expect(rs[0]!.ops).toEqual([]);
    expect(rs[0]!.state.snapshot()).toEqual(before);
    expect(rs[0]!.base()).toMatchObject({
      vv: [
        [1, 3],
        [2, 2],
      ],
      state: before,
    });
    expect([rs[0]!.holds(1, 3), rs[0]!.holds(2, 2), rs[0]!.holds(2, 3)]).toEqual([true, true, false]);
  });

  test("folds in slices of maxOps, oldest first, to the same base as one fold", () => {
    const full = trio();
    gossip(full);
    gossip(full);
    const oldest = full[1]!.ops.map((op) => `${op.origin}:${op.seq}`);
    const slices = [full[1]!.compact(2), full[1]!.compact(2), full[1]!.compact(2), full[1]!.compact(2)];
    expect(slices.map((ops) => ops.length)).toEqual([2, 2, 1, 0]);
    expect(slices.flat().map((op) => `${op.origin}:${op.seq}`)).toEqual(oldest);
    full[0]!.compact();
    expect(full[1]!.base()).toEqual(full[0]!.base());
    expect(full[1]!.state.snapshot()).toEqual(full[0]!.state.snapshot());
  });

  test("ignores an op it folded when it arrives again", () => {
    const rs = trio();
    const again = structuredClone(rs[0]!.ops[0]!);
    gossip(rs);
    gossip(rs);
    rs[0]!.compact();
    expect(rs[0]!.apply(again)).toBe(false);
  });
});

describe("Replica.restore", () => {
  test("rebuilds the same state, version vector and clock floor from base and ops", () => {
    const rs = trio();
    gossip(rs);
    gossip(rs);
    rs[0]!.compact();
    const later = rs[0]!.local({ kind: "create_group", user: "u2", session: "s2", group: "g2" }, 6).op!;
    const copy = restored(rs[0]!);
    expect(copy.state.snapshot()).toEqual(rs[0]!.state.snapshot());
    expect(copy.versionVector()).toEqual(rs[0]!.versionVector());
    expect(copy.ops).toEqual([later]);
    const next = copy.local(createUser("u3"), 0).op!;
    expect([next.seq, compareStamps(next.stamp, later.stamp) > 0]).toEqual([5, true]);
  });

  test("rebuilds a never-compacted replica from its ops alone", () => {
    const [r] = trio();
    const copy = Replica.restore(1, NODES, { ops: [...r!.ops].reverse() });
    expect(copy.state.snapshot()).toEqual(r!.state.snapshot());
  });

  test("stamps ops after a restart above every clock it promised in a status before", () => {
    // A status promises that every later op of this tracker is stamped above `clock`; the other
    // trackers compact on that promise, so a restart must not forget it.
    const [a, b] = [new Replica(1, [1, 2]), new Replica(2, [1, 2])];
    b.apply(a.local(createUser("u1"), 0).op!);
    const promise = a.status();
    b.receiveStatus(promise);
    const op = restored(a).local(createUser("u2"), 0).op!;
    expect(compareStamps(op.stamp, promise.clock)).toBeGreaterThan(0);
  });
});

describe("Replica cluster after a restart", () => {
  test("converges when a restarted tracker's op lands below another tracker's compacted base", () => {
    // t1 promised clock 5 to t2 only, restarted, then stamped op s at 1; t3 stamped op o at 2,
    // never having seen the promise; t2 must not fold o until it holds s.
    const nodes = [1, 2, 3];
    let [a, b, c] = nodes.map((n) => new Replica(n, nodes)) as [Replica, Replica, Replica]; // cast: three nodes
    b.receiveStatus(a.status());
    a = restored(a);
    const s = a.local(createUser("u1", "from-t1"), 1).op!;
    const o = c.local(createUser("u1", "from-t3"), 2).op!;
    a.apply(o);
    b.apply(o);
    c.apply(s);
    for (const from of [b, c, a, c])
      for (const to of [a, b, c]) if (to !== from) to.receiveStatus(from.status());
    b.compact();
    b.apply(s);
    expect(b.holds(1, 1)).toBe(true);
    for (const r of [a, b, c]) expect(r.state.users.get("u1")).toEqual({ hash: "from-t1" });
  });
});

describe("Replica.missingFor", () => {
  test("sends only the ops above the other tracker's version vector", () => {
    const [a] = trio();
    const missing = a!.missingFor([
      [1, 2],
      [2, 2],
    ]);
    expect(missing.base).toBeUndefined();
    expect(missing.ops.map((op) => [op.origin, op.seq])).toEqual([[1, 3]]);
  });

  test("sends the base and every op above it to a tracker that lacks compacted ops", () => {
    const rs = trio();
    gossip(rs);
    gossip(rs);
    rs[0]!.compact();
    const extra = rs[0]!.local(createUser("u3"), 6).op!;
    const missing = rs[0]!.missingFor([[1, 1]]);
    expect(missing.base).toEqual(rs[0]!.base());
    expect(missing.ops).toEqual([extra]);
  });
});

describe("Replica.adoptBase", () => {
  test("brings a tracker that lacks compacted ops to the same state", () => {
    const rs = trio();
    gossip(rs);
    gossip(rs);
    rs[0]!.compact();
    const extra = rs[0]!.local(createUser("u3"), 6).op!;
    const fresh = new Replica(3, NODES);
    fresh.apply(extra); // arrives before the base
    const { base, ops } = rs[0]!.missingFor(fresh.versionVector());
    expect(fresh.adoptBase(base!)).toBe(true);
    fresh.applyMany(ops);
    expect(fresh.state.snapshot()).toEqual(rs[0]!.state.snapshot());
    expect(fresh.versionVector()).toEqual(rs[0]!.versionVector());
    const next = fresh.local(createUser("u4"), 0).op!;
    expect(compareStamps(next.stamp, extra.stamp)).toBeGreaterThan(0);
  });

  test("refuses a base no newer than its own", () => {
    const rs = trio();
    gossip(rs);
    gossip(rs);
    rs[0]!.compact();
    rs[1]!.compact();
    const before = rs[1]!.state.snapshot();
    expect(rs[1]!.adoptBase(rs[0]!.base())).toBe(false);
    expect(rs[1]!.state.snapshot()).toEqual(before);
  });

  test("drops the ops the base covers and keeps those above it", () => {
    const rs = trio();
    gossip(rs);
    gossip(rs);
    rs[0]!.compact();
    const above = rs[2]!.local(createUser("u3"), 9).op!;
    expect(rs[2]!.adoptBase(rs[0]!.base())).toBe(true);
    expect(rs[2]!.ops).toEqual([above]);
    expect(rs[2]!.state.users.has("u3")).toBe(true);
  });
});
