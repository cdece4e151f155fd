// A simulated tracker cluster: N replicas and, per destination, the messages in flight to it
// (ops, statuses and anti-entropy answers), which tests deliver, duplicate, reorder or drop.
// Test helper: never a spec file.
import { expect } from "bun:test";
import type { Change, Outcome } from "../../lib/replica/change.ts";
import { brokenInvariants } from "../../lib/replica/invariants.ts";
import { type Base, type Op, Replica, type StampOrder, type SyncStatus } from "../../lib/replica/replica.ts";

/** What one tracker sends another. */
export type Msg =
  | { kind: "op"; op: Op }
  | { kind: "status"; status: SyncStatus }
  | { kind: "base"; from: number; base: Base }
  | { kind: "ops"; from: number; ops: Op[] };

/** Ops per anti-entropy message: small, so that part of an answer can go missing. */
const OPS_PER_BATCH = 2;

export interface NetOptions {
  /** The replay order every replica uses; tests pass a broken one to prove the harness bites. */
  order?: StampOrder;
  /**
   * Node ids, distinct: the first `size` are the trackers' at the start, in line order; trackers
   * added or renamed later take the next ones. Default 1, 2, 3, ... (ids as line numbers).
   */
  ids?: readonly number[];
}

/** N trackers (replica index i is the tracker on line i + 1) and their inboxes. */
export class Net {
  /** The trackers in the file now, in line order; membership changes add and remove some. */
  nodes: number[];
  readonly replicas: Replica[];
  /** queues[i]: messages in flight to replica i, in no particular order */
  readonly queues: Msg[][];
  /** every op any tracker ever accepted: the set all replicas must end up holding */
  readonly created: Op[] = [];
  /** counts applies and base adoptions that changed something; settle() waits for it to stop */
  progress = 0;
  /** what each command did, for counterexamples: toString() cannot know, as shrinking reruns commands */
  readonly trace: string[] = [];
  /** Trackers removed from the file. */
  readonly removed = new Set<number>();
  readonly #options: NetOptions;
  #nextId = 0;

  constructor(size: number, options: NetOptions = {}) {
    this.#options = options;
    this.nodes = Array.from({ length: size }, () => this.#freshId());
    this.replicas = this.nodes.map(
      (node) => new Replica(node, this.nodes, undefined, { order: options.order }),
    );
    this.queues = this.nodes.map(() => []);
  }

  /** The next node id never used in this run (past the given ones: counting down from 2^32 - 1). */
  #freshId(): number {
    const ids = this.#options.ids;
    if (!ids) return ++this.#nextId;
    for (;;) {
      const i = this.#nextId++;
      const id = ids[i] ?? 2 ** 32 - 1 - (i - ids.length);
      if (i < ids.length || !ids.includes(id)) return id;
    }
  }

  /**
   * A tracker added as a new line: the running ones restart on the new file, one at a time
   * (losing their soft state), and the new one starts empty. `reuse`: it takes the id of a
   * tracker removed before (the same address added back, with an empty data dir). Returns its id.
   */
  addNode(reuse = false): number {
    const back = reuse ? [...this.removed].find((n) => !this.nodes.includes(n)) : undefined;
    const node = back ?? this.#freshId();
    this.removed.delete(node);
    this.nodes = [...this.nodes, node];
    for (let at = 0; at < this.replicas.length; at++) this.restart(at);
    this.replicas.push(
      new Replica(node, this.nodes, undefined, { order: this.#options.order, catchingUp: true }),
    );
    this.queues.push([]);
    return node;
  }

  /**
   * The tracker at index `at` removed from the file, by the README's procedure: once the cluster
   * is in sync, it stops for good and the others restart on the new file.
   */
  removeNode(at: number): number {
    this.settle();
    const node = this.replicas[at]!.node;
    this.nodes = this.nodes.filter((n) => n !== node);
    this.replicas.splice(at, 1);
    this.queues.splice(at, 1);
    this.removed.add(node);
    for (let i = 0; i < this.replicas.length; i++) this.restart(i);
    return node;
  }

  /**
   * The tracker at index `at` takes a new node id and keeps its data: what a data dir written when
   * node ids were line numbers goes through at its first start (its old id's ops stay, as ops of
   * an origin that is no member any more). Every tracker restarts on the new membership, with no
   * settling first: an upgrade stops trackers whatever they hold. Returns the new id.
   */
  renameNode(at: number): number {
    const old = this.replicas[at]!;
    const node = this.#freshId();
    this.nodes = this.nodes.map((n) => (n === old.node ? node : n));
    this.removed.add(old.node);
    this.replicas[at] = Replica.restore(node, this.nodes, this.#persisted(old), {
      order: this.#options.order,
      catchingUp: old.catchingUp || (old.ops.length === 0 && old.base().vv.length === 0 && this.size > 1),
    });
    for (let i = 0; i < this.replicas.length; i++) if (i !== at) this.restart(i);
    return node;
  }

  get size(): number {
    return this.nodes.length;
  }

  /** Commits a change on replica `at`, as its tracker would, and sends the op to every other one. */
  local(index: number, change: Change, nowMs: number, rid?: string): Outcome {
    const at = index % this.size; // commands name trackers by index, also after membership changes
    const { op, outcome } = this.replicas[at]!.local(change, nowMs, rid);
    if (op) {
      this.created.push(op);
      this.#broadcast(at, { kind: "op", op });
    }
    return outcome;
  }

  /** Replica `at` tells every other one its status (each answers later with what `at` lacks). */
  sendStatus(index: number): void {
    const at = index % this.size;
    this.#broadcast(at, { kind: "status", status: this.replicas[at]!.status() });
  }

  /** Delivers message `pick` (modulo the queue length) to replica `to`; `dup` leaves it in flight. */
  deliver(index: number, pick: number, dup = false): Msg | undefined {
    const to = index % this.size;
    const queue = this.queues[to]!;
    if (queue.length === 0) return undefined;
    const i = pick % queue.length;
    const msg = queue[i]!;
    if (!dup) queue.splice(i, 1);
    this.#receive(to, msg);
    return msg;
  }

  /** Loses message `pick` (modulo the queue length) on its way to replica `to`. */
  drop(index: number, pick: number): Msg | undefined {
    const queue = this.queues[index % this.size]!;
    if (queue.length === 0) return undefined;
    return queue.splice(pick % queue.length, 1)[0];
  }

  compact(index: number, maxOps?: number): Op[] {
    return this.replicas[index % this.size]!.compact(maxOps);
  }

  /** Kills and restarts replica `at`: it keeps exactly its base and ops, and loses all soft state. */
  restart(index: number): void {
    const at = index % this.size;
    const old = this.replicas[at]!;
    const persisted = this.#persisted(old);
    // As the tracker does: nothing stored while others exist, it waits to hear one (the tracker
    // also gives up waiting after 3 s alone, and then stamps by its wall clock, not modelled here).
    // Still catching up when it stopped (the tracker keeps that in its store): it still waits,
    // whatever it received meanwhile, or it could reuse the numbers of its ops from before.
    const catchingUp =
      old.catchingUp || (persisted.ops.length === 0 && persisted.base.vv.length === 0 && this.size > 1);
    this.replicas[at] = Replica.restore(old.node, this.nodes, persisted, {
      order: this.#options.order,
      catchingUp,
    });
  }

  /** What a tracker's store holds: its base and the ops above it. */
  #persisted(r: Replica): { base: Base; ops: Op[] } {
    return { base: r.base(), ops: r.ops.map((op) => structuredClone(op)) };
  }

  /** Delivers every message in flight, oldest first, until all queues are empty. */
  drain(): void {
    for (let busy = true; busy; ) {
      busy = false;
      for (let to = 0; to < this.size; to++) {
        const msg = this.queues[to]!.shift();
        if (msg) {
          busy = true;
          this.#receive(to, msg);
        }
      }
    }
  }

  /** One reliable gossip round: every tracker sends its status, then everything in flight lands. */
  gossip(): void {
    for (let at = 0; at < this.size; at++) this.sendStatus(at);
    this.drain();
  }

  /** Reliable anti-entropy: drain, then status rounds until a whole round changes nothing. */
  settle(): void {
    this.drain();
    for (let round = 0; round < 10; round++) {
      const before = this.progress;
      this.gossip();
      if (this.progress === before) return;
    }
    throw new Error("Cannot settle the cluster: anti-entropy still changes replicas after 10 rounds");
  }

  /** Which of the created ops replica `at` holds, as sorted "origin:seq" strings. */
  held(at: number): string[] {
    const r = this.replicas[at]!;
    return this.created
      .filter((op) => r.holds(op.origin, op.seq))
      .map((op) => `${op.origin}:${op.seq}`)
      .sort();
  }

  #broadcast(from: number, msg: Msg): void {
    for (let to = 0; to < this.size; to++) if (to !== from) this.queues[to]!.push(msg);
  }

  #receive(to: number, msg: Msg): void {
    const r = this.replicas[to]!;
    if (msg.kind === "op") {
      if (r.apply(msg.op)) this.progress++;
    } else if (msg.kind === "status") {
      r.receiveStatus(msg.status);
      // The answer travels as a base and batches of ops, like the tracker's sync_base and
      // sync_ops frames; each can be lost, duplicated or overtaken on its own.
      const answer = r.missingFor(msg.status.vv);
      const back = this.queues[this.nodes.indexOf(msg.status.node)];
      if (!back) return; // from a tracker removed since
      if (answer.base) back.push({ kind: "base", from: r.node, base: answer.base });
      for (let i = 0; i < answer.ops.length; i += OPS_PER_BATCH) {
        back.push({ kind: "ops", from: r.node, ops: answer.ops.slice(i, i + OPS_PER_BATCH) });
      }
    } else if (msg.kind === "base") {
      if (r.adoptBase(msg.base)) this.progress++;
    } else {
      this.progress += r.applyMany(msg.ops).length;
    }
  }
}

/** Describes a message for counterexamples: `op 2:3@0.1`, `status of 1`, `ops from 3 [1:2@0.1]`. */
export function describeMsg(msg: Msg): string {
  const op = (o: Op) => `${o.origin}:${o.seq}@${o.stamp.wall}.${o.stamp.count}`;
  if (msg.kind === "op") return `op ${op(msg.op)}`;
  if (msg.kind === "status")
    return `status of ${msg.status.node} (clock ${msg.status.clock.wall}.${msg.status.clock.count})`;
  if (msg.kind === "base")
    return `base from ${msg.from} (up to ${msg.base.stamp.wall}.${msg.base.stamp.count})`;
  return `ops from ${msg.from} [${msg.ops.map(op).join(" ")}]`;
}

/**
 * After settle(): every replica holds every op ever accepted, states are equal, sound, and equal
 * to a fresh replay of all ops; then a full compaction and a restart of every tracker change nothing.
 */
export function expectConverged(net: Net): void {
  const all = net.created.map((op) => `${op.origin}:${op.seq}`).sort();
  const reference = new Replica(1, net.nodes);
  reference.applyMany([...net.created].reverse());
  const expected = reference.state.snapshot();
  const check = (phase: string) => {
    for (let i = 0; i < net.size; i++) {
      const r = net.replicas[i]!;
      expect({ phase, tracker: r.node, held: net.held(i) }).toEqual({ phase, tracker: r.node, held: all });
      expect({ phase, tracker: r.node, broken: brokenInvariants(r.state) }).toEqual({
        phase,
        tracker: r.node,
        broken: [],
      });
      const pair = `t${r.node} vs t1`;
      expect({ phase, pair, state: r.state.snapshot() }).toEqual({
        phase,
        pair,
        state: net.replicas[0]!.state.snapshot(),
      });
    }
    expect({ phase, state: net.replicas[0]!.state.snapshot() }).toEqual({ phase, state: expected });
  };
  check("settled");
  // Two status rounds: the first gives promises, the second the frontiers that rest on them.
  net.gossip();
  net.gossip();
  for (let at = 0; at < net.size; at++) net.compact(at);
  check("compacted");
  for (let at = 0; at < net.size; at++)
    expect({ tracker: at + 1, opsLeft: net.replicas[at]!.ops.length }).toEqual({
      tracker: at + 1,
      opsLeft: 0,
    });
  for (let at = 0; at < net.size; at++) net.restart(at);
  check("restarted");
}
