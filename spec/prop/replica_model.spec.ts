// spec/prop/replica_model.spec.ts: one replica against a plain sequential model of SPEC, written here from SPEC alone.
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import type { Change } from "../../lib/replica/change.ts";
import { brokenInvariants } from "../../lib/replica/invariants.ts";
import { Replica } from "../../lib/replica/replica.ts";
import type { State } from "../../lib/replica/state.ts";
import { contentOf, describeChange, intentArb, resolveIntent, USERS } from "../helpers/replica_arbitraries.ts";

const FC_RUNS = Number(process.env.FC_RUNS ?? 1000);

interface ModelGroup {
  owner: string;
  members: string[]; // in join order: the first is the longest-standing
  pending: string[]; // in request order
  files: Map<string, { content: number; sharers: Map<string, string> }>; // name -> content, peer -> user
}

/** SPEC's users, sessions and groups as plain maps, changed one request at a time. */
class Model {
  users = new Map<string, string>();
  sessions = new Map<string, { user: string; peer: string }>();
  groups = new Map<string, ModelGroup>();

  /** Whether SPEC accepts `c` now; applies it if so. */
  apply(c: Change): boolean {
    switch (c.kind) {
      case "create_user":
        if (this.users.has(c.user)) return false;
        this.users.set(c.user, c.hash);
        return true;
      case "login": {
        if (!this.users.has(c.user)) return false;
        // A client address has one session: logging in there again ends the one before.
        for (const [sid, s] of this.sessions) if (s.peer === c.peer || sid === c.session) this.#endSession(sid);
        this.sessions.set(c.session, { user: c.user, peer: c.peer });
        return true;
      }
      case "logout":
        if (!this.sessions.has(c.session)) return false;
        this.#endSession(c.session);
        return true;
      case "create_group":
        if (!this.users.has(c.user) || this.groups.has(c.group)) return false;
        this.groups.set(c.group, { owner: c.user, members: [c.user], pending: [], files: new Map() });
        return true;
      case "join_group": {
        const g = this.groups.get(c.group);
        if (!this.users.has(c.user) || !g || g.members.includes(c.user) || g.pending.includes(c.user)) return false;
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
          for (const [peer, user] of f.sharers) if (user === c.user) f.sharers.delete(peer);
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
        const s = this.sessions.get(c.session);
        const g = this.groups.get(c.group);
        if (s?.user !== c.user || !g || !g.members.includes(c.user)) return false;
        const content = contentOf(c.file);
        const f = g.files.get(c.file.name) ?? { content, sharers: new Map<string, string>() };
        if (f.content !== content) return false; // one name, one content per group
        f.sharers.set(s.peer, c.user);
        g.files.set(c.file.name, f);
        return true;
      }
      case "unshare": {
        const s = this.sessions.get(c.session);
        const f = this.groups.get(c.group)?.files.get(c.name);
        if (s?.user !== c.user || !f?.sharers.has(s.peer)) return false;
        f.sharers.delete(s.peer);
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
          files: [...g.files].map(([name, f]) => ({ name, content: f.content, sharers: [...f.sharers].sort() })).sort(byName),
        }))
        .sort((a, b) => (a.id < b.id ? -1 : 1)),
    };
  }
}

const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : 1);

/** The replica's state in the model's view: order only where SPEC gives it meaning. */
function viewOf(state: State): ReturnType<Model["view"]> {
  return {
    users: [...state.users].map(([id, u]) => [id, u.hash] as [string, string]).sort(),
    sessions: [...state.sessions].map(([id, s]) => [id, s.user, s.peer]).sort(),
    groups: [...state.groups]
      .map(([id, g]) => ({
        id,
        owner: g.owner,
        members: [...g.members],
        pending: [...g.pending],
        files: [...g.files.values()].map((f) => ({ name: f.name, content: contentOf(f), sharers: [...f.sharers].sort() })).sort(byName),
      }))
      .sort((a, b) => (a.id < b.id ? -1 : 1)),
  };
}

describe("Replica against the SPEC model", () => {
  test("accepts and refuses what the model does, and holds the same users, groups and files after every step", () => {
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
          if (!change) return; // no user yet: the shell refuses before any rule runs
          const { outcome } = replica.local(change, step);
          done.push(`${describeChange(change)}${outcome.ok ? "" : " refused"}`);
          expect({ done, ok: outcome.ok }).toEqual({ done, ok: model.apply(change) });
          expect({ done, state: viewOf(replica.state) }).toEqual({ done, state: model.view() });
          expect(brokenInvariants(replica.state)).toEqual([]);
        });
      }),
      { numRuns: FC_RUNS, includeErrorInReport: true },
    );
  }, 120_000);
});
