// fast-check commands that drive a simulated tracker cluster, and the convergence property over them.
// Test helper: never a spec file.
import { expect } from "bun:test";
import fc from "fast-check";
import { messageOf } from "../../lib/errors.ts";
import type { Change } from "../../lib/replica/change.ts";
import { brokenInvariants } from "../../lib/replica/invariants.ts";
import {
  describeChange,
  type Intent,
  intentArb,
  PEER_OF_SESSION,
  resolveIntent,
  SESSIONS,
  USERS,
} from "./replica_arbitraries.ts";
import { describeMsg, expectConverged, Net, type NetOptions } from "./replica_net.ts";

type Cmd = fc.Command<object, Net>;
const t = (at: number) => `t${at + 1}`;
const MARK: Record<Intent["as"], string> = { given: "", fit: "~", stale: "!" };

/** A client request committed on tracker `at` at wall clock `nowMs`. */
export class LocalChange implements Cmd {
  constructor(
    readonly at: number,
    readonly intent: Intent,
    readonly nowMs: number,
  ) {}
  check = () => true;
  run(_: object, net: Net): void {
    const change = resolveIntent(this.intent, net.replicas[this.at % net.size]!.state);
    const outcome = net.local(this.at, change, this.nowMs, `r${net.trace.length}`);
    const op = net.created.at(-1)!;
    const done = outcome.ok ? `op ${op.origin}:${op.seq}@${op.stamp.wall}.${op.stamp.count}` : "refused";
    net.trace.push(`${this}: ${describeChange(change)} ${done}`);
  }
  // "~": the change is a hint, fitted to the tracker's state when run; "!": fitted, but stale (see resolveIntent).
  toString = () =>
    `${t(this.at)}.local(${MARK[this.intent.as]}${describeChange(this.intent.change)}@${this.nowMs})`;
}

/** A client retries an earlier request (same request id) on tracker `at`, e.g. after failover. */
export class Retry implements Cmd {
  constructor(
    readonly at: number,
    readonly pick: number,
    readonly nowMs: number,
  ) {}
  check = () => true;
  run(_: object, net: Net): void {
    const requests = net.created.filter((op) => op.rid !== undefined);
    if (requests.length === 0) return void net.trace.push(`${this}: nothing to retry`);
    const first = requests[this.pick % requests.length]!;
    const count = net.created.length;
    const outcome = net.local(this.at, first.change, this.nowMs, first.rid);
    const op = net.created.at(-1)!;
    const done =
      net.created.length > count ? `op ${op.origin}:${op.seq}@${op.stamp.wall}.${op.stamp.count}` : "no op";
    net.trace.push(
      `${this}: ${first.rid} (op ${first.origin}:${first.seq}) ${outcome.ok ? "ok" : "refused"}, ${done}`,
    );
  }
  toString = () => `${t(this.at)}.retry(#${this.pick}@${this.nowMs})`;
}

/** Delivers one in-flight message to `to`, in any order; `dup`: it arrives again later. */
export class Deliver implements Cmd {
  constructor(
    readonly to: number,
    readonly pick: number,
    readonly dup: boolean,
  ) {}
  check = () => true;
  run(_: object, net: Net): void {
    const msg = net.deliver(this.to, this.pick, this.dup);
    net.trace.push(`${this}: ${msg ? describeMsg(msg) : "nothing"}`);
  }
  toString = () => `${t(this.to)}.deliver(#${this.pick}${this.dup ? ", dup" : ""})`;
}

/** Loses one in-flight message to `to`. */
export class Drop implements Cmd {
  constructor(
    readonly to: number,
    readonly pick: number,
  ) {}
  check = () => true;
  run(_: object, net: Net): void {
    const msg = net.drop(this.to, this.pick);
    net.trace.push(`${this}: ${msg ? describeMsg(msg) : "nothing"}`);
  }
  toString = () => `${t(this.to)}.drop(#${this.pick})`;
}

/** Anti-entropy: `at` sends its status to all; each receiver answers, later and lossily, with what it lacks. */
export class SendStatus implements Cmd {
  constructor(readonly at: number) {}
  check = () => true;
  run(_: object, net: Net): void {
    net.sendStatus(this.at);
    net.trace.push(`${this}`);
  }
  toString = () => `${t(this.at)}.status()`;
}

/** A moment of calm: one reliable round of statuses and answers, so frontiers advance. */
export class Gossip implements Cmd {
  check = () => true;
  run(_: object, net: Net): void {
    net.gossip();
    net.trace.push(`${this}`);
  }
  toString = () => "gossip()";
}

/** Folds what every tracker holds into `at`'s base: all of it, or a slice of `maxOps`. */
export class Compact implements Cmd {
  constructor(
    readonly at: number,
    readonly maxOps?: number,
  ) {}
  check = () => true;
  run(_: object, net: Net): void {
    const folded = net.compact(this.at, this.maxOps);
    net.trace.push(`${this}: folded [${folded.map((op) => `${op.origin}:${op.seq}`).join(" ")}]`);
  }
  toString = () => `${t(this.at)}.compact(${this.maxOps ?? ""})`;
}

/** Kills `at` and rebuilds it from exactly its persisted base and ops. */
export class Restart implements Cmd {
  constructor(readonly at: number) {}
  check = () => true;
  run(_: object, net: Net): void {
    net.restart(this.at);
    net.trace.push(`${this}`);
  }
  toString = () => `${t(this.at)}.restart()`;
}

/** A tracker added as a new line of the file (at most 6 in all); `reuse`: at a removed one's address. */
export class AddNode implements Cmd {
  constructor(readonly reuse = false) {}
  check = () => true;
  run(_: object, net: Net): void {
    if (net.size >= 6) return void net.trace.push(`${this}: already 6 trackers`);
    net.trace.push(`${this}: tracker ${net.addNode(this.reuse)} joins, the others restart`);
  }
  toString = () => `addNode(${this.reuse ? "reuse" : ""})`;
}

/** The tracker at index `at` takes a new node id and keeps its data (a data dir from line-number ids). */
export class RenameNode implements Cmd {
  constructor(readonly at: number) {}
  check = () => true;
  run(_: object, net: Net): void {
    const at = this.at % net.size;
    const old = net.replicas[at]!.node;
    net.trace.push(`${this}: tracker ${old} is now ${net.renameNode(at)}, the others restart`);
  }
  toString = () => `renameNode(#${this.at})`;
}

/** The tracker at index `at` (modulo the size) removed from the file (2 stay at least). */
export class RemoveNode implements Cmd {
  constructor(readonly at: number) {}
  check = () => true;
  run(_: object, net: Net): void {
    if (net.size <= 2) return void net.trace.push(`${this}: only 2 trackers`);
    net.trace.push(`${this}: tracker ${net.removeNode(this.at % net.size)} leaves, the others restart`);
  }
  toString = () => `removeNode(#${this.at})`;
}

const clock = fc.integer({ min: 0, max: 3 });

/** Every command for a cluster of `size` trackers; restarts, gossip and compaction are common, as bugs hide there. */
export function commandArb(size: number): fc.Arbitrary<Cmd> {
  // Up to 6 trackers once some are added; an index names tracker `at % size` (see Net).
  const at = fc.integer({ min: 0, max: Math.max(size - 1, 5) });
  const pick = fc.nat({ max: 7 });
  return fc.oneof(
    { weight: 6, arbitrary: fc.tuple(at, intentArb, clock).map(([a, i, now]) => new LocalChange(a, i, now)) },
    { weight: 2, arbitrary: fc.tuple(at, pick, clock).map(([a, p, now]) => new Retry(a, p, now)) },
    { weight: 6, arbitrary: fc.tuple(at, pick, fc.boolean()).map(([a, p, dup]) => new Deliver(a, p, dup)) },
    { weight: 1, arbitrary: fc.tuple(at, pick).map(([a, p]) => new Drop(a, p)) },
    { weight: 1, arbitrary: at.map((a) => new SendStatus(a)) },
    { weight: 3, arbitrary: fc.constant(0).map(() => new Gossip()) },
    { weight: 3, arbitrary: at.map((a) => new Compact(a)) },
    { weight: 2, arbitrary: fc.tuple(at, fc.integer({ min: 1, max: 3 })).map(([a, n]) => new Compact(a, n)) },
    { weight: 3, arbitrary: at.map((a) => new Restart(a)) },
    { weight: 1, arbitrary: fc.boolean().map((reuse) => new AddNode(reuse)) },
    { weight: 1, arbitrary: at.map((a) => new RemoveNode(a)) },
    { weight: 1, arbitrary: at.map((a) => new RenameNode(a)) },
  );
}

/** How much a run starts with, known everywhere: nothing, users u1-u2 (hash h0), or u1-u3 with sessions and a group. */
export type Preset = 0 | 1 | 2;

/**
 * Node ids for a run, distinct, in no order: small ones (as line numbers were) and large ones
 * (as derived from addresses), so that lines' order and ids' order disagree. Trackers added or
 * renamed past the eighth id get ids of Net's own.
 */
export const nodeIdsArb: fc.Arbitrary<number[]> = fc.uniqueArray(
  fc.oneof(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 65_536, max: 2 ** 32 - 1 })),
  { minLength: 8, maxLength: 8 },
);

/** A cluster size (2..5), a preset, commands for that cluster, and its node ids. */
export function scenarioArb(maxCommands = 200): fc.Arbitrary<[number, Preset, Iterable<Cmd>, number[]]> {
  return fc
    .integer({ min: 2, max: 5 })
    .chain((size) =>
      fc.tuple(
        fc.constant(size),
        fc.constantFrom<Preset>(0, 1, 2),
        fc.commands([commandArb(size)], { maxCommands, size: "max" }),
        nodeIdsArb,
      ),
    );
}

/** A cluster of `size` trackers whose tracker 1 has made, and all have received, the `preset` ops. */
export function makeNet(size: number, preset: Preset, options: NetOptions = {}): Net {
  const net = new Net(size, options);
  const presetOps: Change[] = [];
  // Preset 1 leaves u3 to be created by the trackers, possibly by two at once with different passwords.
  for (const user of USERS.slice(0, [0, 2, 3][preset]))
    presetOps.push({ kind: "create_user", user, hash: "h0" });
  if (preset >= 2) {
    // u1 on s1@p1, u2 on s2@p2, u3 on s3@p3; g1 owned by u1, with member u2 and u3 pending.
    for (const [i, user] of USERS.entries())
      presetOps.push({
        kind: "login",
        key: "k",
        user,
        hash: "h0",
        session: SESSIONS[i]!,
        peer: PEER_OF_SESSION[SESSIONS[i]!]!,
      });
    presetOps.push(
      { kind: "create_group", user: "u1", session: "s1", group: "g1" },
      { kind: "join_group", user: "u2", session: "s2", group: "g1" },
    );
    presetOps.push(
      { kind: "accept_request", user: "u1", session: "s1", group: "g1", member: "u2" },
      { kind: "join_group", user: "u3", session: "s3", group: "g1" },
    );
  }
  for (const change of presetOps) expect(net.local(0, change, 0)).toEqual({ ok: true });
  net.drain();
  return net;
}

/** `cmd`, then a check that every replica's state is sound. */
function soundAfter(cmd: Cmd): Cmd {
  return {
    check: () => true,
    run(model: object, net: Net): void {
      cmd.run(model, net);
      for (const r of net.replicas) {
        const broken = brokenInvariants(r.state);
        if (broken.length > 0)
          throw new Error(`After ${cmd}, t${r.node} is unsound:\n  ${broken.join("\n  ")}`);
      }
    },
    toString: () => String(cmd),
  };
}

/** Runs `cmds` one by one on `net`, checking after each that every replica is sound. */
export function runSound(net: Net, cmds: Iterable<Cmd>): void {
  for (const cmd of cmds) soundAfter(cmd).run({}, net);
}

/** Any run of commands, followed by reliable anti-entropy, leaves every tracker converged. */
export function convergenceProperty(options: NetOptions = {}, maxCommands = 200) {
  return fc.property(scenarioArb(maxCommands), ([size, preset, cmds, ids]) => {
    const net = makeNet(size, preset, { ids, ...options });
    try {
      // Every replay of a prefix of the log is sound, so invariants hold after every step too.
      fc.modelRun(
        () => ({ model: {}, real: net }),
        [...cmds].map((cmd) => soundAfter(cmd)),
      );
      net.settle();
      expectConverged(net);
    } catch (err) {
      throw new Error(
        `${messageOf(err)}\nTrace of this run (${size} trackers, ids ${ids.join(" ")}, preset ${preset}):\n  ${net.trace.join("\n  ")}`,
      );
    }
  });
}
