// Arbitraries for replicated-state changes over tiny domains, so that concurrent changes conflict.
// Test helper: never a spec file.
import fc from "fast-check";
import type { Change, FileMeta } from "../../lib/replica/change.ts";
import type { State } from "../../lib/replica/state.ts";

export const USERS = ["u1", "u2", "u3"] as const;
export const GROUPS = ["g1", "g2"] as const;
export const PEERS = ["p1", "p2", "p3"] as const;
export const SESSIONS = ["s1", "s2", "s3", "s4"] as const;
export const FILE_NAMES = ["f1", "f2"] as const;

/**
 * A session id is the hash of one client's token, so it always names the same client address:
 * s1 and s4 both live on p1 (a re-login there replaces the other), s2 on p2, s3 on p3.
 */
export const PEER_OF_SESSION: Record<string, string> = { s1: "p1", s2: "p2", s3: "p3", s4: "p1" };

const bytes = (fill: number, length = 20) => new Uint8Array(length).fill(fill);

/** The two possible contents of a file name: same name, different content conflicts. */
export const CONTENTS = [
  { sizeBytes: 1000, sha1: bytes(0xa1), pieces: bytes(0xb1) },
  { sizeBytes: 2000, sha1: bytes(0xa2), pieces: bytes(0xb2) },
] as const;

/** A file name with one of its two contents. */
export function fileMeta(name: string, content: number): FileMeta {
  const c = CONTENTS[content]!;
  return { name, sizeBytes: c.sizeBytes, sha1: c.sha1, pieces: c.pieces };
}

/** Which content a FileMeta carries (0 or 1). */
export function contentOf(file: { sha1: Uint8Array }): number {
  return file.sha1[0] === 0xa1 ? 0 : 1;
}

/**
 * A change as generated. "given": as is (only an unknown acting user is replaced, see
 * resolveIntent); "fit": its values are hints, turned into a change that is valid on the acting
 * tracker when its state allows, so that runs are full of accepted, concurrent, conflicting ops.
 */
export interface Intent {
  change: Change;
  as: "given" | "fit";
}

const user = fc.constantFrom(...USERS);
const group = fc.constantFrom(...GROUPS);
const session = fc.constantFrom(...SESSIONS);
const fileName = fc.constantFrom(...FILE_NAMES);
const changeArb: fc.Arbitrary<Change> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("create_user"), user, hash: fc.constantFrom("h1", "h2") }) },
  { weight: 3, arbitrary: session.chain((s) => user.map((u): Change => ({ kind: "login", user: u, session: s, peer: PEER_OF_SESSION[s]! }))) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("logout"), session }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("create_group"), user, group }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("join_group"), user, group }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("leave_group"), user, group }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constantFrom("accept_request", "reject_request"), user, group, member: user }) },
  {
    weight: 4,
    arbitrary: fc
      .tuple(user, session, group, fileName, fc.integer({ min: 0, max: 1 }))
      .map(([u, s, g, name, content]): Change => ({ kind: "share", user: u, session: s, group: g, file: fileMeta(name, content) })),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("unshare"), user, session, group, name: fileName }) },
);

/** One change over the tiny domains; two in three are fitted to the acting tracker's state. */
export const intentArb: fc.Arbitrary<Intent> = fc.record({ change: changeArb, as: fc.constantFrom<Intent["as"]>("fit", "fit", "given") });

/** The element of `list` that hint `key` (a value of `domain`) stands for; undefined if `list` is empty. */
function choose<T>(list: readonly T[], key: string, domain: readonly string[]): T | undefined {
  return list.length === 0 ? undefined : list[Math.max(0, domain.indexOf(key)) % list.length];
}

/**
 * The change a tracker would commit for `intent`, or undefined when its shell would refuse it
 * before any rule runs: every acting user is authenticated, so exists on the acting tracker.
 */
export function resolveIntent(intent: Intent, state: State): Change | undefined {
  const c = intent.change;
  if (c.kind === "create_user") return c;
  const users = [...state.users.keys()];
  if (intent.as === "given") {
    if (c.kind === "logout" || c.kind === "login") return c;
    const actor = state.users.has(c.user) ? c.user : choose(users, c.user, USERS);
    return actor === undefined ? undefined : { ...c, user: actor };
  }
  const groupIds = [...state.groups.keys()];
  const sessionIds = [...state.sessions.keys()];
  const orGiven = <T>(v: T | undefined, given: T) => v ?? given;
  switch (c.kind) {
    case "login": {
      const u = choose(users, c.user, USERS);
      return u === undefined ? c : { ...c, user: u };
    }
    case "logout":
      return { ...c, session: orGiven(choose(sessionIds, c.session, SESSIONS), c.session) };
    case "create_group": {
      const u = choose(users, c.user, USERS);
      return u === undefined ? undefined : { ...c, user: u };
    }
    case "join_group":
    case "leave_group": {
      const gid = orGiven(choose(groupIds, c.group, GROUPS), c.group);
      const g = state.groups.get(gid);
      const fits = users.filter((u) => (c.kind === "join_group") !== (g?.members.has(u) || g?.pending.has(u)));
      const u = choose(fits, c.user, USERS) ?? choose(users, c.user, USERS);
      return u === undefined ? undefined : { ...c, user: u, group: gid };
    }
    case "accept_request":
    case "reject_request": {
      const gid = orGiven(choose(groupIds, c.group, GROUPS), c.group);
      const g = state.groups.get(gid);
      const owner = g?.owner ?? choose(users, c.user, USERS);
      if (owner === undefined) return undefined;
      return { ...c, user: owner, group: gid, member: orGiven(choose([...(g?.pending ?? [])], c.member, USERS), c.member) };
    }
    case "share":
    case "unshare": {
      const sid = orGiven(choose(sessionIds, c.session, SESSIONS), c.session);
      const s = state.sessions.get(sid);
      const u = s?.user ?? choose(users, c.user, USERS);
      if (u === undefined) return undefined;
      if (c.kind === "share") {
        const gid = orGiven(choose(groupIds.filter((id) => state.groups.get(id)!.members.has(u)), c.group, GROUPS), c.group);
        return { ...c, user: u, session: sid, group: gid };
      }
      const mine = groupIds.flatMap((id) =>
        [...state.groups.get(id)!.files.values()].filter((f) => s && f.sharers.has(s.peer)).map((f) => [id, f.name] as const),
      );
      const [gid, name] = orGiven(choose(mine, c.name, FILE_NAMES), [c.group, c.name] as const);
      return { ...c, user: u, session: sid, group: gid, name };
    }
  }
}

/** A short, readable form of a change for counterexamples: `u1:share(g1,f1#0,s2)`. */
export function describeChange(c: Change): string {
  switch (c.kind) {
    case "create_user":
      return `create_user(${c.user},${c.hash})`;
    case "login":
      return `login(${c.user},${c.session}@${c.peer})`;
    case "logout":
      return `logout(${c.session})`;
    case "create_group":
    case "join_group":
    case "leave_group":
      return `${c.user}:${c.kind}(${c.group})`;
    case "accept_request":
    case "reject_request":
      return `${c.user}:${c.kind}(${c.group},${c.member})`;
    case "share":
      return `${c.user}:share(${c.group},${c.file.name}#${contentOf(c.file)},${c.session})`;
    case "unshare":
      return `${c.user}:unshare(${c.group},${c.name},${c.session})`;
  }
}
