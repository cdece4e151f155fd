// spec/unit/replica/membership.spec.ts: node ids that are not line numbers, a member that takes a
// new id and keeps its data, and a removed member whose ops live on only in the others.
import { describe, expect, test } from "bun:test";
import type { Change } from "../../../lib/replica/change.ts";
import { type Op, Replica } from "../../../lib/replica/replica.ts";

const createUser = (user: string): Change => ({ kind: "create_user", user, hash: "h" });
const restoredAs = (r: Replica, node: number, nodes: number[]) =>
  Replica.restore(node, nodes, { base: r.base(), ops: [...r.ops] });

/** Every replica sends its status to every other one, and nothing else travels. */
function statusesOnly(rs: Replica[]): void {
  const statuses = rs.map((r) => r.status());
  for (const r of rs) for (const s of statuses) if (s.node !== r.node) r.receiveStatus(s);
}

describe("membership by node id", () => {
  test("a member that took a new id keeps the ops of its old one reaching everyone, past compaction", () => {
    // Tracker 1 makes op x that nobody else has yet, then restarts as node 70001 (its data dir
    // from before node ids came from addresses); the others restart on the new membership.
    const old = [1, 2, 3];
    const [a, b, c] = old.map((n) => new Replica(n, old)) as [Replica, Replica, Replica]; // cast: three nodes
    const x = a.local(createUser("u1"), 10).op as Op; // cast: the change applies
    const nodes = [70_001, 2, 3];
    const a2 = restoredAs(a, 70_001, nodes);
    const b2 = restoredAs(b, 2, nodes);
    const c2 = restoredAs(c, 3, nodes);
    // b2 makes op y later than x; every tracker gets y, and statuses go round; x stays in flight.
    const y = b2.local(createUser("u2"), 20).op as Op; // cast: the change applies
    for (const r of [a2, c2]) r.apply(y);
    statusesOnly([a2, b2, c2]);
    statusesOnly([a2, b2, c2]);
    // Origin 1 is no member now: b2 must not take a2's promise while a2 holds ops of it that b2 lacks.
    b2.compact();
    c2.compact();
    expect([b2.apply(x), c2.apply(x)]).toEqual([true, true]);
    for (const r of [b2, c2]) expect(r.state.snapshot()).toEqual(a2.state.snapshot());
    // Once everyone holds x, compaction goes on without origin 1's promise.
    statusesOnly([a2, b2, c2]);
    statusesOnly([a2, b2, c2]);
    for (const r of [a2, b2, c2]) expect(r.compact().length).toBe(2);
  });

  test("a tracker removed from the file is no longer waited for, whatever its id and place", () => {
    const ids = [4_000_000_000, 65_536, 900_000];
    const rs = ids.map((n) => new Replica(n, ids));
    const op = rs[0]!.local(createUser("u1"), 5).op as Op; // cast: the change applies
    for (const r of rs.slice(1)) r.apply(op);
    // The middle line (65_536, the lowest id) is removed: the two others restart without it.
    const nodes = [4_000_000_000, 900_000];
    const kept = [restoredAs(rs[0]!, ids[0]!, nodes), restoredAs(rs[2]!, ids[2]!, nodes)];
    statusesOnly(kept);
    statusesOnly(kept);
    for (const r of kept) expect(r.compact()).toEqual([op]);
    // Without the removal, the silent tracker holds compaction back.
    const stuck = [restoredAs(rs[0]!, ids[0]!, ids), restoredAs(rs[2]!, ids[2]!, ids)];
    statusesOnly(stuck);
    statusesOnly(stuck);
    for (const r of stuck) expect(r.compact()).toEqual([]);
  });

  test("a wiped tracker takes changes only once every other member has shown what it holds of its ops", () => {
    // Tracker 1's op x reached tracker 3 only; then tracker 1 lost its data dir.
    const nodes = [1, 2, 3];
    const [a, b, c] = nodes.map((n) => new Replica(n, nodes)) as [Replica, Replica, Replica]; // cast: three nodes
    const x = a.local(createUser("u1"), 10).op as Op; // cast: the change applies
    c.apply(x);
    const wiped = new Replica(1, nodes, undefined, { catchingUp: true });
    wiped.receiveStatus(b.status()); // holds no op of tracker 1: not enough, tracker 3 may
    expect(wiped.catchingUp).toBe(true);
    wiped.receiveStatus(c.status()); // holds x, which the wiped tracker lacks
    expect(wiped.catchingUp).toBe(true);
    wiped.apply(x);
    wiped.receiveStatus(c.status());
    expect(wiped.catchingUp).toBe(false);
    // Its next op is numbered after x: numbering on from tracker 2's status would reuse 1.
    expect(wiped.local(createUser("u2"), 20).op).toMatchObject({ origin: 1, seq: 2 });
  });

  test("an id given back to a new tracker is numbered on from the ops a renamed member kept of it", () => {
    // Node 65_536 makes op x, which stays in flight, and is renamed 5 keeping its data; a new
    // tracker then takes the id 65_536 (its address had it) with nothing stored.
    const old = [1, 65_536];
    const [a, b] = old.map((n) => new Replica(n, old)) as [Replica, Replica]; // cast: two nodes
    const x = b.local(createUser("u1"), 10).op as Op; // cast: the change applies
    const nodes = [1, 5, 65_536];
    const renamed = restoredAs(b, 5, nodes);
    const first = restoredAs(a, 1, nodes);
    const fresh = new Replica(65_536, nodes, undefined, { catchingUp: true });
    fresh.receiveStatus(first.status());
    expect(fresh.catchingUp).toBe(true);
    fresh.receiveStatus(renamed.status());
    expect(fresh.catchingUp).toBe(true);
    fresh.apply(x);
    fresh.receiveStatus(renamed.status());
    expect(fresh.local(createUser("u2"), 20).op).toMatchObject({ origin: 65_536, seq: 2 });
  });

  test("a brand-new cluster starts once every member says it is new and empty too", () => {
    const nodes = [1, 2, 3];
    const rs = nodes.map((n) => new Replica(n, nodes, undefined, { catchingUp: true }));
    rs[0]!.receiveStatus(rs[1]!.status());
    expect(rs[0]!.catchingUp).toBe(true);
    statusesOnly(rs);
    for (const r of rs) expect(r.catchingUp).toBe(false);
  });

  test("answers name the tracker by its line, not by its node id", () => {
    const r = new Replica(123_456, [123_456, 7], undefined, { catchingUp: true, name: "tracker 2" });
    expect(r.local(createUser("u1"), 1).outcome).toEqual({
      ok: false,
      reason: "tracker 2 is catching up with the others: try again in a moment",
    });
  });
});

describe("lacksOpsHeldElsewhere: when an unknown session may exist all the same", () => {
  test("while catching up, and while a linked tracker's latest status shows ops not held here", () => {
    const nodes = [1, 2];
    const a = new Replica(1, nodes);
    const login = a.local(createUser("alice"), 10).op as Op; // cast: the change applies
    // A wiped tracker: catching up until a status shows it holds its own ops.
    const b = new Replica(2, nodes, undefined, { catchingUp: true });
    expect(b.lacksOpsHeldElsewhere()).toBe(true);
    b.receiveStatus(a.status()); // caught up (nothing of its own to wait for), alice not here yet
    expect(b.catchingUp).toBe(false);
    expect(b.lacksOpsHeldElsewhere()).toBe(true);
    b.apply(login);
    expect(b.lacksOpsHeldElsewhere()).toBe(false);
    // A moment behind: a status ahead of the ops it shows.
    const later = a.local(createUser("bob"), 20).op as Op; // cast: the change applies
    b.receiveStatus(a.status());
    expect(b.lacksOpsHeldElsewhere()).toBe(true);
    b.apply(later);
    expect(b.lacksOpsHeldElsewhere()).toBe(false);
    // The link drops before the ops arrive: they are not waited for.
    a.local(createUser("carol"), 30);
    b.receiveStatus(a.status());
    expect(b.lacksOpsHeldElsewhere()).toBe(true);
    b.forgetStatus(1);
    expect(b.lacksOpsHeldElsewhere()).toBe(false);
  });

  test("a status of a tracker that is not a member counts for nothing", () => {
    const a = new Replica(9, [9]);
    a.local(createUser("alice"), 10);
    const b = new Replica(2, [1, 2]);
    b.receiveStatus(a.status());
    expect(b.lacksOpsHeldElsewhere()).toBe(false);
  });
});
