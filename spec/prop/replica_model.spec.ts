// spec/prop/replica_model.spec.ts: one replica against a plain sequential model of SPEC, written here from SPEC alone.
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import type { Change, Outcome } from "../../lib/replica/change.ts";
import { brokenInvariants } from "../../lib/replica/invariants.ts";
import { Replica } from "../../lib/replica/replica.ts";
import { compareStamps } from "../../lib/replica/stamp.ts";
import type { State } from "../../lib/replica/state.ts";
import {
  contentOf,
  describeChange,
  intentArb,
  resolveIntent,
  USERS,
} from "../helpers/replica_arbitraries.ts";
import { makeNet, runSound, scenarioArb } from "../helpers/replica_commands.ts";

const FC_RUNS = Number(process.env.FC_RUNS ?? 1000);

interface ModelGroup {
  owner: string;
  members: string[]; // in join order: the first is the longest-standing
  pending: string[]; // in request order
  files: Map<string, { content: number; sharers: Map<string, string> }>; // name -> content, peer -> user
}

/** SPEC's users, sessions and groups as plain maps, changed one request at a time. */
class Model {
  users = new Map<string, string>(); // id -> password hash
  sessions = new Map<string, { user: string; peer: string }>(); // id -> who, at which client address
  groups = new Map<string, ModelGroup>();

  /** What SPEC answers to `c` now; applies it if accepted. */
  apply(c: Change): Answer {
    switch (c.kind) {
      case "create_user":
        if (this.users.has(c.user)) return "refused";
        this.users.set(c.user, c.hash);
        return "ok";
      case "login": {
        if (!this.users.has(c.user)) return "refused";
        if (this.users.get(c.user) !== c.hash) return "wrong password";
        // A client address has one session: logging in there again ends the one before.
        for (const [sid, s] of this.sessions)
          if (s.peer === c.peer || sid === c.session) this.#endSession(sid);
        this.sessions.set(c.session, { user: c.user, peer: c.peer });
        return "ok";
      }
      case "logout":
        if (!this.sessions.has(c.session)) return "not logged in";
        this.#endSession(c.session);
        return "ok";
      default: {
        // Every other request comes from a logged-in client: it acts through a live session of
        // its own user, or is refused for that before anything else is looked at.
        const s = this.sessions.get(c.session);
        if (s?.user !== c.user) return "not logged in";
        return this.#act(c, s.peer) ? "ok" : "refused";
      }
    }
  }

  /** A request by `c.user`, logged in at client address `peer`. */
  #act(c: Exclude<Change, { kind: "create_user" | "login" | "logout" }>, peer: string): boolean {
    switch (c.kind) {
      case "create_group":
        if (this.groups.has(c.group)) return false;
        this.groups.set(c.group, { owner: c.user, members: [c.user], pending: [], files: new Map() });
        return true;
      case "join_group": {
        const g = this.groups.get(c.group);
        if (!g || g.members.includes(c.user) || g.pending.includes(c.user)) return false;
        g.pending.push(c.user);
        return true;
      }
      case "leave_group": {
        const g = this.groups.get(c.group);
        if (!g) return false;
        if (g.pending.includes(c.user)) {
          g.pending = g.pending.filter((u) => u !== c.user);
          return true;
        }
        if (!g.members.includes(c.user)) return false;
        g.members = g.members.filter((u) => u !== c.user);
        for (const [name, f] of g.files) {
          for (const [p, user] of f.sharers) if (user === c.user) f.sharers.delete(p);
          if (f.sharers.size === 0) g.files.delete(name);
        }
        if (g.members.length === 0) this.groups.delete(c.group);
        else if (g.owner === c.user) g.owner = g.members[0]!;
        return true;
      }
      case "accept_request":
      case "reject_request": {
        const g = this.groups.get(c.group);
        if (!g || g.owner !== c.user || !g.pending.includes(c.member)) return false;
        g.pending = g.pending.filter((u) => u !== c.member);
        if (c.kind === "accept_request") g.members.push(c.member);
        return true;
      }
      case "share": {
        const g = this.groups.get(c.group);
        if (!g?.members.includes(c.user)) return false;
        const content = contentOf(c.file);
        const f = g.files.get(c.file.name) ?? { content, sharers: new Map<string, string>() };
        if (f.content !== content) return false; // one name, one content per group
        f.sharers.set(peer, c.user);
        g.files.set(c.file.name, f);
        return true;
      }
      case "unshare": {
        const f = this.groups.get(c.group)?.files.get(c.name);
        if (!f?.sharers.has(peer)) return false;
        f.sharers.delete(peer);
        if (f.sharers.size === 0) this.groups.get(c.group)!.files.delete(c.name);
        return true;
      }
    }
  }

  /** A session ends: its client address stops sharing everything. */
  #endSession(sid: string): void {
    const peer = this.sessions.get(sid)!.peer;
    this.sessions.delete(sid);
    for (const g of this.groups.values()) {
      for (const [name, f] of g.files) {
        f.sharers.delete(peer);
        if (f.sharers.size === 0) g.files.delete(name);
      }
    }
  }

  view() {
    return {
      users: [...this.users].sort(),
      sessions: [...this.sessions].map(([id, s]) => [id, s.user, s.peer]).sort(),
      groups: [...this.groups]
        .map(([id, g]) => ({
          id,
          owner: g.owner,
          members: g.members,
          pending: g.pending,
          files: [...g.files]
            .map(([name, f]) => ({ name, content: f.content, sharers: [...f.sharers].sort() }))
            .sort(byName),
        }))
        .sort((a, b) => (a.id < b.id ? -1 : 1)),
    };
  }
}

/** A request's outcome, as far as the model tells refusals apart. */
type Answer = "ok" | "not logged in" | "wrong password" | "refused";

function answerOf(outcome: Outcome): Answer {
  if (outcome.ok) return "ok";
  if (outcome.reason.startsWith("not logged in")) return "not logged in";
  return outcome.reason === "wrong user id or password" ? "wrong password" : "refused";
}

const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : 1);

/** The replica's state in the model's view: order only where SPEC gives it meaning. */
function viewOf(state: State): ReturnType<Model["view"]> {
  return {
    users: [...state.users].map(([id, u]): [string, string] => [id, u.hash]).sort(),
    sessions: [...state.sessions].map(([id, s]) => [id, s.user, s.peer]).sort(),
    groups: [...state.groups]
      .map(([id, g]) => ({
        id,
        owner: g.owner,
        members: [...g.members],
        pending: [...g.pending],
        files: [...g.files.values()]
          .map((f) => ({ name: f.name, content: contentOf(f), sharers: [...f.sharers].sort() }))
          .sort(byName),
      }))
      .sort((a, b) => (a.id < b.id ? -1 : 1)),
  };
}

describe("Replica against the SPEC model", () => {
  test("accepts what the model does, refuses the rest for the same kind of reason, and holds the same users, groups and files after every step", () => {
    fc.assert(
      fc.property(fc.boolean(), fc.array(intentArb, { maxLength: 80, size: "max" }), (seeded, intents) => {
        const replica = new Replica(1, [1]);
        const model = new Model();
        const done: string[] = [];
        if (seeded) {
          for (const user of USERS) {
            const change: Change = { kind: "create_user", user, hash: "h0" };
            replica.local(change, 0);
            model.apply(change);
          }
        }
        intents.forEach((intent, step) => {
          const change = resolveIntent(intent, replica.state);
          const { outcome } = replica.local(change, step);
          done.push(`${describeChange(change)}${outcome.ok ? "" : " refused"}`);
          expect({ done, answer: answerOf(outcome) }).toEqual({ done, answer: model.apply(change) });
          expect({ done, state: viewOf(replica.state) }).toEqual({ done, state: model.view() });
          expect(brokenInvariants(replica.state)).toEqual([]);
        });
      }),
      { numRuns: FC_RUNS, includeErrorInReport: true },
    );
  }, 120_000);

  // What "no-op everywhere" means: a settled cluster is the model fed every accepted op in stamp
  // order, so an act through a session that lost a conflict or ended earlier changes nothing.
  test("gives every settled cluster the state the model reaches from all accepted ops in stamp order", () => {
    fc.assert(
      fc.property(scenarioArb(), ([size, preset, cmds]) => {
        const net = makeNet(size, preset);
        runSound(net, cmds);
        net.settle();
        const model = new Model();
        const rids = new Set<string>();
        for (const op of [...net.created].sort((a, b) => compareStamps(a.stamp, b.stamp))) {
          if (op.rid !== undefined && rids.has(op.rid)) continue; // a retry: applied once, at its first stamp
          if (op.rid !== undefined) rids.add(op.rid);
          model.apply(op.change);
        }
        for (const r of net.replicas) {
          expect({ tracker: r.node, state: viewOf(r.state) }).toEqual({
            tracker: r.node,
            state: model.view(),
          });
        }
      }),
      { numRuns: Math.ceil(FC_RUNS / 2), includeErrorInReport: true },
    );
  }, 300_000);
});
