// One tracker's replica: the union of every tracker's operation log, replayed in stamp order.
// Pure: no I/O, no clock reads (callers pass `nowMs`). Any delivery order, any duplicates,
// give the same state: the state is a function of the set of operations held.
import type { Change, Outcome } from "./change.ts";
import { applyChange } from "./rules.ts";
import { Clock, compareStamps, maxStamp, type Stamp, ZERO_STAMP } from "./stamp.ts";
import { State, type StateSnapshot } from "./state.ts";

/** One change, stamped and numbered by the tracker that accepted it. */
export interface Op {
  origin: number;
  seq: number;
  stamp: Stamp;
  /** The client's request id: a retried request is applied once and answered alike. */
  rid?: string;
  change: Change;
}

/** Per origin tracker, the highest operation number held with no gap below it. */
export type VersionVector = [origin: number, seq: number][];

/** The compacted prefix of the log: every operation at or below `stamp`, folded into `state`. */
export interface Base {
  stamp: Stamp;
  vv: VersionVector;
  state: StateSnapshot;
}

/**
 * A base with its state built (read back from chunks, lib/wire/base_stream.ts): adopted as it
 * is, without a snapshot in between. The state is the base's own from then on.
 */
export interface BaseImage {
  stamp: Stamp;
  vv: VersionVector;
  state: State;
}

/** What a tracker tells the others periodically, so they can send what it lacks and compact. */
export interface SyncStatus {
  node: number;
  vv: VersionVector;
  /** The sender's promise: all its future operations, even after a restart, are stamped above it. */
  clock: Stamp;
  /** The sender holds every operation stamped at or below this. */
  frontier: Stamp;
  /** The sender's clock now: no promise (a restart may go below it), a floor for a new tracker's clock. */
  now?: Stamp;
  /** The sender started with nothing stored and has not caught up yet (see ReplicaOptions). */
  catchingUp?: boolean;
}

/** A total order on stamps; compareStamps is the only correct one. */
export type StampOrder = (a: Stamp, b: Stamp) => number;

export interface ReplicaOptions {
  /** The replay order: tests pass a deliberately broken one to prove the fuzzer catches it. */
  order?: StampOrder | undefined;
  /**
   * A tracker that starts with nothing stored (new, or its data dir lost) while others exist:
   * it refuses local changes until a status from every other tracker shows it holds every op of
   * its own number that one holds, and has moved its clock past theirs. Otherwise it could
   * reuse operation numbers it issued before the loss, or stamp ops below what the others have
   * already compacted, and either would be dropped by them: a silent divergence.
   */
  catchingUp?: boolean;
  /** How answers name this tracker (default `tracker <node>`): its line number, not its node id. */
  name?: string | undefined;
}

/**
 * A request id is remembered this long after its operation (measured between op stamps, so a
 * partition that heals later still dedupes), for retries across failover: a client gives up on
 * a request after 20 s, so 2 minutes is ample, and every id held costs memory and GC time.
 */
export const RID_TTL_MS = 2 * 60_000;

export class Replica {
  readonly node: number;
  readonly nodes: readonly number[];
  #clock: Clock;
  #base: { stamp: Stamp; vv: Map<number, number>; state: State };
  #ops: Op[] = []; // sorted by stamp, all above the base
  #contig = new Map<number, number>();
  #above = new Map<number, Set<number>>();
  #state: State;
  #settled = true;
  #latestHeld: Stamp = ZERO_STAMP; // the latest stamp held, in the base or the log: restore rebuilds it
  #promises = new Map<number, Stamp>();
  #frontiers = new Map<number, Stamp>();
  #order: StampOrder;
  #catchingUp: boolean;
  #name: string;
  /** While catching up: the members whose latest status showed we hold every op of ours they hold. */
  #reported = new Set<number>();
  /** The version vector of each linked tracker's latest status (forgotten when its link drops). */
  #theirs = new Map<number, VersionVector>();

  /**
   * `nodes` lists the node id of every tracker in the cluster, this one included: the ones whose
   * promises the frontier waits for. Ops of other origins (trackers removed from the file, or
   * the ids data dirs had before node ids came from addresses) are held and replayed like any.
   * `options.order` is the replay order: tests pass a deliberately broken one to prove the
   * fuzzer catches it.
   */
  constructor(node: number, nodes: readonly number[], base?: Base | BaseImage, options: ReplicaOptions = {}) {
    this.node = node;
    this.nodes = nodes;
    this.#order = options.order ?? compareStamps;
    this.#catchingUp = options.catchingUp ?? false;
    this.#name = options.name ?? `tracker ${node}`;
    this.#clock = new Clock(node);
    this.#base = { stamp: ZERO_STAMP, vv: new Map(), state: new State() };
    this.#state = new State();
    if (base) this.adoptBase(base);
  }

  /** A replica rebuilt from what a tracker persisted: its base and the operations above it. */
  static restore(
    node: number,
    nodes: readonly number[],
    persisted: { base?: Base | BaseImage | undefined; ops: Op[] },
    options: ReplicaOptions = {},
  ): Replica {
    const replica = new Replica(node, nodes, persisted.base, options);
    const ops = persisted.ops;
    replica.applyMany(ops);
    return replica;
  }

  /** The current state (replayed if operations arrived out of order). */
  get state(): State {
    if (!this.#settled) {
      this.#state = this.#base.state.clone();
      for (const op of this.#ops) replayOne(this.#state, op);
      this.#settled = true;
    }
    return this.#state;
  }

  /** Operations held above the compacted base, in stamp order. */
  get ops(): readonly Op[] {
    return this.#ops;
  }

  get clock(): Stamp {
    return this.#clock.last;
  }

  /** Whether `change` would apply now, without applying it. */
  check(change: Change): Outcome {
    return applyChange(this.state, change, false);
  }

  /** The remembered outcome of a client's request id, if its operation is held. */
  outcomeOf(rid: string): Outcome | undefined {
    const o = this.state.rids.get(rid);
    if (!o) return undefined;
    return o.ok ? { ok: true } : { ok: false, reason: o.reason ?? "refused" };
  }

  /** Whether local changes wait until another tracker's status shows what this one missed. */
  get catchingUp(): boolean {
    return this.#catchingUp;
  }

  /** While catching up: the members whose status has not yet shown we hold every op of ours they hold. */
  awaitedReports(): number[] {
    if (!this.#catchingUp) return [];
    return this.nodes.filter((n) => n !== this.node && !this.#reported.has(n));
  }

  /** What a request that has to wait for this replica to catch up is told. */
  get catchingUpReason(): string {
    return `${this.#name} is catching up with the others: try again in a moment`;
  }

  /**
   * Whether something held elsewhere may be missing here: still catching up, or a linked
   * tracker's latest status shows ops not held yet. A session or user unknown here then may
   * exist all the same (a wiped tracker between its first status and the ops that follow it, or
   * one a moment behind), so "unknown" would be the wrong answer: "try again in a moment" is right.
   */
  lacksOpsHeldElsewhere(): boolean {
    if (this.#catchingUp) return true;
    for (const vv of this.#theirs.values())
      for (const [origin, seq] of vv) if ((this.#contig.get(origin) ?? 0) < seq) return true;
    return false;
  }

  /** A tracker's link dropped: what its last status showed may never arrive, and is not waited for. */
  forgetStatus(node: number): void {
    this.#theirs.delete(node);
  }

  /** No other tracker answered in time: this one starts the cluster's history (see ReplicaOptions). */
  stopCatchingUp(): void {
    this.#catchingUp = false;
  }

  /** Records a local change at `nowMs`; returns the op to persist and broadcast when it applies. */
  local(change: Change, nowMs: number, rid?: string): { op?: Op; outcome: Outcome } {
    if (rid !== undefined) {
      const previous = this.outcomeOf(rid);
      if (previous) return { outcome: previous };
    }
    if (this.#catchingUp) return { outcome: { ok: false, reason: this.catchingUpReason } };
    const outcome = this.check(change);
    if (!outcome.ok) return { outcome };
    const seq = (this.#contig.get(this.node) ?? 0) + 1;
    const op: Op = { origin: this.node, seq, stamp: this.#clock.tick(nowMs), change };
    if (rid !== undefined) op.rid = rid;
    this.apply(op);
    return { op, outcome };
  }

  /** Applies any op, in any order, any number of times; false if it was already held. */
  apply(op: Op): boolean {
    if (this.holds(op.origin, op.seq)) return false;
    if (compareStamps(op.stamp, this.#base.stamp) <= 0) return false; // below the frontier: cannot be new
    this.#clock.observe(op.stamp);
    this.#latestHeld = maxStamp(this.#latestHeld, op.stamp);
    this.#noteHeld(op.origin, op.seq);
    const last = this.#ops[this.#ops.length - 1];
    if (!last || this.#order(op.stamp, last.stamp) > 0) {
      this.#ops.push(op);
      if (this.#settled) replayOne(this.#state, op);
    } else {
      this.#ops.splice(insertionIndex(this.#ops, op.stamp, this.#order), 0, op);
      this.#settled = false;
    }
    return true;
  }

  /** Applies a batch; returns the ops that were new. */
  applyMany(ops: Iterable<Op>): Op[] {
    const fresh: Op[] = [];
    for (const op of ops) if (this.apply(op)) fresh.push(op);
    return fresh;
  }

  /** Whether operation `seq` of `origin` is held (in the base or the log). */
  holds(origin: number, seq: number): boolean {
    return seq <= (this.#contig.get(origin) ?? 0) || (this.#above.get(origin)?.has(seq) ?? false);
  }

  versionVector(): VersionVector {
    return [...this.#contig].sort((a, b) => a[0] - b[0]);
  }

  /** Whether a replica at `theirs` lacks ops folded into the base (it can only take the base). */
  needsBase(theirs: VersionVector): boolean {
    const have = new Map(theirs);
    return [...this.#base.vv].some(([origin, seq]) => (have.get(origin) ?? 0) < seq);
  }

  /** The stamp of the last op folded into the base: bases with equal stamps are equal. */
  get baseStamp(): Stamp {
    return this.#base.stamp;
  }

  /** What a replica at `theirs` lacks: ops, plus the base when it lacks compacted ones. */
  missingFor(theirs: VersionVector): { base?: Base; ops: Op[] } {
    const have = new Map(theirs);
    if (this.needsBase(theirs)) return { base: this.base(), ops: [...this.#ops] };
    return { ops: this.#ops.filter((op) => op.seq > (have.get(op.origin) ?? 0)) };
  }

  /**
   * This replica's status for the others. It promises the latest stamp it holds, not its clock:
   * a restart rebuilds the clock from the persisted ops alone, so a promise above them (a status
   * tick, an observed clock) could be broken by the next op, which others may have compacted past.
   */
  status(): SyncStatus {
    const status: SyncStatus = {
      node: this.node,
      vv: this.versionVector(),
      clock: this.#latestHeld,
      frontier: this.frontier(),
      now: this.#clock.last,
    };
    if (this.#catchingUp) status.catchingUp = true;
    return status;
  }

  /**
   * Takes another tracker's status: its clock promise and its frontier. The promise counts once
   * we hold every op it holds of its own and of every origin that is not a member: no member
   * makes those any more, so they reach us only from the trackers that hold them, and a
   * frontier past one we lack would compact it away here while it lives on elsewhere.
   */
  receiveStatus(status: SyncStatus): void {
    this.#clock.observe(status.clock);
    if (this.#catchingUp) this.#catchUpWith(status);
    if (status.node !== this.node && this.nodes.includes(status.node))
      this.#theirs.set(status.node, status.vv);
    const lacking = status.vv.some(
      ([origin, seq]) =>
        (origin === status.node || !this.nodes.includes(origin)) && (this.#contig.get(origin) ?? 0) < seq,
    );
    if (!lacking) {
      this.#promises.set(status.node, maxOf(this.#promises.get(status.node), status.clock));
    }
    this.#frontiers.set(status.node, maxOf(this.#frontiers.get(status.node), status.frontier));
  }

  /** How many ops of its own a tracker's status shows that this replica lacks. */
  ownOpsLacking(status: SyncStatus): number {
    const theirs = status.vv.find(([origin]) => origin === status.node)?.[1] ?? 0;
    return Math.max(0, theirs - (this.#contig.get(status.node) ?? 0));
  }

  /** Every operation stamped at or below this is held here, and no new one can appear. */
  frontier(): Stamp {
    let f = this.#clock.last;
    for (const n of this.nodes) {
      if (n === this.node) continue;
      const p = this.#promises.get(n) ?? ZERO_STAMP;
      if (compareStamps(p, f) < 0) f = p;
    }
    return f;
  }

  /** Every tracker holds every operation at or below this: safe to compact. */
  clusterFrontier(): Stamp {
    let f = this.frontier();
    for (const n of this.nodes) {
      if (n === this.node) continue;
      const p = this.#frontiers.get(n) ?? ZERO_STAMP;
      if (compareStamps(p, f) < 0) f = p;
    }
    return f;
  }

  /**
   * Folds the ops at or below the cluster frontier into the base, oldest first and at most
   * `maxOps` of them (a tracker folds in slices, so no single fold holds its event loop long);
   * returns the folded ops.
   */
  compact(maxOps = Infinity): Op[] {
    const upTo = this.clusterFrontier();
    const count = Math.min(insertionIndex(this.#ops, upTo, this.#order), maxOps);
    if (count === 0) return [];
    const folded = this.#ops.slice(0, count);
    // In place: the base state is never the live state (that one is a replayed copy), and a
    // clone here would copy every user, file and request id each time (a long pause under load).
    for (const op of folded) {
      replayOne(this.#base.state, op);
      this.#base.vv.set(op.origin, Math.max(this.#base.vv.get(op.origin) ?? 0, op.seq));
    }
    const last = folded.at(-1);
    if (last) this.#base.stamp = last.stamp;
    this.#ops = this.#ops.slice(count);
    return folded;
  }

  /** The compacted prefix, in its durable and transferable form. */
  base(): Base {
    return { stamp: this.#base.stamp, vv: this.baseVersionVector(), state: this.#base.state.snapshot() };
  }

  /**
   * The compacted prefix as it is held, for encoding it record by record: its state is this
   * replica's own and changes in place at the next compact(), so read it before that.
   */
  baseImage(): BaseImage {
    return { stamp: this.#base.stamp, vv: this.baseVersionVector(), state: this.#base.state };
  }

  /** The base's version vector alone (base() snapshots the whole state). */
  baseVersionVector(): VersionVector {
    return [...this.#base.vv].sort((a, b) => a[0] - b[0]);
  }

  /** Takes a newer base from another tracker (one that compacted ops this one lacks). */
  adoptBase(base: Base | BaseImage): boolean {
    if (compareStamps(base.stamp, this.#base.stamp) <= 0) return false;
    const vv = new Map(base.vv);
    const state = base.state instanceof State ? base.state : State.fromSnapshot(base.state);
    this.#base = { stamp: base.stamp, vv, state };
    this.#ops = this.#ops.filter(
      (op) => compareStamps(op.stamp, base.stamp) > 0 && op.seq > (vv.get(op.origin) ?? 0),
    );
    for (const [origin, seq] of vv) {
      for (let s = (this.#contig.get(origin) ?? 0) + 1; s <= seq; s++) this.#noteHeld(origin, s);
    }
    this.#clock.observe(base.stamp);
    this.#latestHeld = maxStamp(this.#latestHeld, base.stamp);
    this.#settled = false;
    return true;
  }

  /**
   * Caught up once every other member has sent a status showing we hold every op of ours it
   * holds, and we have observed its clock. Every member, not one: a wiped tracker's last ops may
   * have reached only some of the others, and one that is not a member any more may have handed
   * its ops of our id (an id given back to an address, or left behind by a rename) to only some;
   * numbering on from what one tracker showed would reuse a number another holds, and the two
   * ops would never converge. The clocks: no new op may land below what anyone compacted, and
   * compacting past a stamp needs every member's promise of it, which its own clock has seen. A
   * brand-new cluster is the case where every member is empty. A member that is down keeps us
   * catching up (clients go to the others) until it answers or leaves the file.
   */
  #catchUpWith(status: SyncStatus): void {
    if (status.node === this.node || !this.nodes.includes(status.node)) return;
    const mine = status.vv.find(([origin]) => origin === this.node)?.[1] ?? 0;
    if ((this.#contig.get(this.node) ?? 0) < mine) return void this.#reported.delete(status.node);
    if (status.now) this.#clock.observe(status.now);
    this.#reported.add(status.node);
    if (this.nodes.every((n) => n === this.node || this.#reported.has(n))) this.#catchingUp = false;
  }

  #noteHeld(origin: number, seq: number): void {
    let contig = this.#contig.get(origin) ?? 0;
    if (seq <= contig) return;
    const above = this.#above.get(origin);
    if (seq !== contig + 1) {
      if (above) above.add(seq);
      else this.#above.set(origin, new Set([seq]));
      return;
    }
    contig = seq;
    while (above?.delete(contig + 1)) contig++;
    this.#contig.set(origin, contig);
  }
}

/** Applies one op at its position in the replay: request ids dedupe, and expire after RID_TTL_MS. */
function replayOne(state: State, op: Op): void {
  state.rids.expireBefore(op.stamp.wall - RID_TTL_MS);
  if (op.rid !== undefined && state.rids.has(op.rid)) return;
  const outcome = applyChange(state, op.change, true);
  if (op.rid !== undefined) {
    state.rids.add(
      op.rid,
      outcome.ok
        ? { ok: true, wall: op.stamp.wall }
        : { ok: false, reason: outcome.reason, wall: op.stamp.wall },
    );
  }
}

/** Index of the first op stamped above `stamp`. */
function insertionIndex(ops: readonly Op[], stamp: Stamp, order: StampOrder): number {
  let lo = 0;
  let hi = ops.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const at = ops[mid];
    if (at !== undefined && order(at.stamp, stamp) <= 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function maxOf(a: Stamp | undefined, b: Stamp): Stamp {
  return a && compareStamps(a, b) > 0 ? a : b;
}
