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
}

/** N trackers numbered 1..N (replica index i is tracker i + 1) and their inboxes. */
export class Net {
  readonly nodes: number[];
  readonly replicas: Replica[];
  /** queues[i]: messages in flight to replica i, in no particular order */
  readonly queues: Msg[][];
  /** every op any tracker ever accepted: the set all replicas must end up holding */
  readonly created: Op[] = [];
  /** counts applies and base adoptions that changed something; settle() waits for it to stop */
  progress = 0;
  /** what each command did, for counterexamples: toString() cannot know, as shrinking reruns commands */
  readonly trace: string[] = [];
  readonly #options: NetOptions;

  constructor(size: number, options: NetOptions = {}) {
    this.nodes = Array.from({ length: size }, (_, i) => i + 1);
    this.#options = options;
    this.replicas = this.nodes.map(
      (node) => new Replica(node, this.nodes, undefined, { order: options.order }),
    );
    this.queues = this.nodes.map(() => []);
  }

  get size(): number {
    return this.nodes.length;
  }

  /** Commits a change on replica `at`, as its tracker would, and sends the op to every other one. */
  local(at: number, change: Change, nowMs: number, rid?: string): Outcome {
    const { op, outcome } = this.replicas[at]!.local(change, nowMs, rid);
    if (op) {
      this.created.push(op);
      this.#broadcast(at, { kind: "op", op });
    }
    return outcome;
  }

  /** Replica `at` tells every other one its status (each answers later with what `at` lacks). */
  sendStatus(at: number): void {
    this.#broadcast(at, { kind: "status", status: this.replicas[at]!.status() });
  }

  /** Delivers message `pick` (modulo the queue length) to replica `to`; `dup` leaves it in flight. */
  deliver(to: number, pick: number, dup = false): Msg | undefined {
    const queue = this.queues[to]!;
    if (queue.length === 0) return undefined;
    const i = pick % queue.length;
    const msg = queue[i]!;
    if (!dup) queue.splice(i, 1);
    this.#receive(to, msg);
    return msg;
  }

  /** Loses message `pick` (modulo the queue length) on its way to replica `to`. */
  drop(to: number, pick: number): Msg | undefined {
    const queue = this.queues[to]!;
    if (queue.length === 0) return undefined;
    return queue.splice(pick % queue.length, 1)[0];
  }

  compact(at: number, maxOps?: number): Op[] {
    return this.replicas[at]!.compact(maxOps);
  }

  /** Kills and restarts replica `at`: it keeps exactly its base and ops, and loses all soft state. */
  restart(at: number): void {
    const old = this.replicas[at]!;
    const persisted = { base: old.base(), ops: old.ops.map((op) => structuredClone(op)) };
    this.replicas[at] = Replica.restore(old.node, this.nodes, persisted, { order: this.#options.order });
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
      const back = this.queues[msg.status.node - 1]!;
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
