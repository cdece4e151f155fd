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
 * A change as generated. "given": as is, so mostly refused (any user, any session, any hash);
 * "fit": its values are hints, turned into a change that is valid on the acting tracker when its
 * state allows (the actor acts through its own live session, a login names the user's current
 * hash, create_user picks an id this tracker does not know yet, and an act where nobody is logged
 * in becomes the create_user or login a client would do first), so that runs are full of accepted,
 * concurrent, conflicting ops; "stale": fitted the same way, but through a session that is not
 * the actor's there, a login with another hash, or a taken user id.
 */
export interface Intent {
  change: Change;
  as: "given" | "fit" | "stale";
}

/** Every password hash: create_user picks h1 or h2 (so that concurrent ones differ); presets use h0. */
export const HASHES = ["h1", "h2", "h0"] as const;

const user = fc.constantFrom(...USERS);
const group = fc.constantFrom(...GROUPS);
const session = fc.constantFrom(...SESSIONS);
const fileName = fc.constantFrom(...FILE_NAMES);
const changeArb: fc.Arbitrary<Change> = fc.oneof(
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant("create_user"), user, hash: fc.constantFrom("h1", "h2") }),
  },
  {
    weight: 3,
    arbitrary: fc.tuple(user, fc.constantFrom(...HASHES), session).map(
      ([u, hash, s]): Change => ({
        kind: "login",
        key: "k",
        user: u,
        hash,
        session: s,
        peer: PEER_OF_SESSION[s]!,
      }),
    ),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("logout"), session }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("expire_sessions"),
      sessions: fc.uniqueArray(session, { minLength: 1, maxLength: 3 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("create_group"), user, session, group }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("join_group"), user, session, group }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("leave_group"), user, session, group }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constantFrom("accept_request", "reject_request"),
      user,
      session,
      group,
      member: user,
    }),
  },
  {
    weight: 4,
    arbitrary: fc.tuple(user, session, group, fileName, fc.integer({ min: 0, max: 1 })).map(
      ([u, s, g, name, content]): Change => ({
        kind: "share",
        user: u,
        session: s,
        group: g,
        file: fileMeta(name, content),
      }),
    ),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("unshare"), user, session, group, name: fileName }) },
);

/** One change over the tiny domains: six in eight fitted to the acting tracker's state, one stale, one given. */
export const intentArb: fc.Arbitrary<Intent> = fc.record({
  change: changeArb,
  as: fc.constantFrom<Intent["as"]>("fit", "fit", "fit", "fit", "fit", "fit", "stale", "given"),
});

/** The element of `list` that hint `key` (a value of `domain`) stands for; undefined if `list` is empty. */
function choose<T>(list: readonly T[], key: string, domain: readonly string[]): T | undefined {
  return list.length === 0 ? undefined : list[Math.max(0, domain.indexOf(key)) % list.length];
}

/** The change a client would send to the acting tracker, whose state is `state`, for `intent`. */
export function resolveIntent(intent: Intent, state: State): Change {
  const c = intent.change;
  if (intent.as === "given") return c;
  const stale = intent.as === "stale";
  const users = [...state.users.keys()];
  // A new user id, as far as this tracker knows (another may be creating it right now), or when stale a taken one.
  if (c.kind === "create_user")
    return {
      ...c,
      user:
        choose(
          USERS.filter((u) => state.users.has(u) === stale),
          c.user,
          USERS,
        ) ?? c.user,
    };
  const groupIds = [...state.groups.keys()];
  const sessionIds = [...state.sessions.keys()];
  const sessionsOf = (u: string) => sessionIds.filter((id) => state.sessions.get(id)!.user === u);
  // Who may act: fitted, only a logged-in user; stale, anyone (its session will be wrong anyway).
  const actors = stale ? users : users.filter((u) => sessionsOf(u).length > 0);
  /** One of `fits` that may act, else anyone who may, else the hint itself. */
  const actor = (fits: readonly string[], hint: string) =>
    choose(
      fits.filter((u) => actors.includes(u)),
      hint,
      USERS,
    ) ??
    choose(actors, hint, USERS) ??
    hint;
  /** The session `u` acts through: its own live one, or when stale one that is not (another's, or gone). */
  const through = (u: string, hint: string) =>
    (stale
      ? choose(
          SESSIONS.filter((id) => state.sessions.get(id)?.user !== u),
          hint,
          SESSIONS,
        )
      : choose(sessionsOf(u), hint, SESSIONS)) ?? hint;
  const orGiven = <T>(v: T | undefined, given: T) => v ?? given;
  if (c.kind === "expire_sessions") {
    // Fitted: sessions this tracker holds (a tracker expires only those); stale: ones it does not.
    const pool = SESSIONS.filter((id) => state.sessions.has(id) !== stale);
    const picked = c.sessions.flatMap((hint) => {
      const id = choose(pool, hint, SESSIONS);
      return id === undefined ? [] : [id];
    });
    return { ...c, sessions: picked.length > 0 ? [...new Set(picked)] : c.sessions };
  }
  if (!stale && actors.length === 0 && c.kind !== "login" && c.kind !== "logout") {
    // Nobody is logged in here, so nobody can act: the client first creates its user, or logs in.
    const hash = HASHES[SESSIONS.findIndex((s) => s === c.session) % 2]!;
    if (users.length === 0) return { kind: "create_user", user: c.user, hash };
    return resolveIntent(
      {
        as: "fit",
        change: {
          kind: "login",
          key: "k",
          user: c.user,
          hash,
          session: c.session,
          peer: PEER_OF_SESSION[c.session]!,
        },
      },
      state,
    );
  }
  switch (c.kind) {
    case "login": {
      // Mostly someone not logged in yet, at a free address; once all are, a login replaces one.
      const u = orGiven(
        choose(
          users.filter((u) => sessionsOf(u).length === 0),
          c.user,
          USERS,
        ) ?? choose(users, c.user, USERS),
        c.user,
      );
      const current = state.users.get(u)?.hash;
      const hash = stale
        ? orGiven(
            choose(
              HASHES.filter((h) => h !== current),
              c.hash,
              HASHES,
            ),
            c.hash,
          )
        : orGiven(current, c.hash);
      const sid = orGiven(
        choose(
          SESSIONS.filter((id) => !state.peerSessions.has(PEER_OF_SESSION[id]!)),
          c.session,
          SESSIONS,
        ),
        c.session,
      );
      return { ...c, user: u, hash, session: sid, peer: PEER_OF_SESSION[sid]! };
    }
    case "logout": {
      const live = SESSIONS.filter((id) => state.sessions.has(id) !== stale);
      return { ...c, session: orGiven(choose(live, c.session, SESSIONS), c.session) };
    }
    case "create_group": {
      const u = actor(users, c.user);
      return { ...c, user: u, session: through(u, c.session) };
    }
    case "join_group":
    case "leave_group": {
      const fits = (id: string) => {
        const g = state.groups.get(id);
        return users.filter((u) => (c.kind === "join_group") !== (g?.members.has(u) || g?.pending.has(u)));
      };
      const open = groupIds.filter((id) => fits(id).some((u) => actors.includes(u)));
      const gid = orGiven(choose(open, c.group, GROUPS) ?? choose(groupIds, c.group, GROUPS), c.group);
      const u = actor(fits(gid), c.user);
      return { ...c, user: u, session: through(u, c.session), group: gid };
    }
    case "accept_request":
    case "reject_request": {
      const answerable = groupIds.filter((id) => actors.includes(state.groups.get(id)!.owner));
      const gid = orGiven(choose(answerable, c.group, GROUPS) ?? choose(groupIds, c.group, GROUPS), c.group);
      const g = state.groups.get(gid);
      const u = g?.owner ?? actor(users, c.user);
      return {
        ...c,
        user: u,
        session: through(u, c.session),
        group: gid,
        member: orGiven(choose([...(g?.pending ?? [])], c.member, USERS), c.member),
      };
    }
    case "share":
    case "unshare": {
      const members = users.filter((u) => groupIds.some((id) => state.groups.get(id)!.members.has(u)));
      const u = actor(members, c.user);
      const sid = through(u, c.session);
      const s = state.sessions.get(sid);
      if (c.kind === "share") {
        const gid = orGiven(
          choose(
            groupIds.filter((id) => state.groups.get(id)!.members.has(u)),
            c.group,
            GROUPS,
          ),
          c.group,
        );
        return { ...c, user: u, session: sid, group: gid };
      }
      const mine = groupIds.flatMap((id) =>
        [...state.groups.get(id)!.files.values()]
          .filter((f) => s && f.sharers.has(s.peer))
          .map((f) => [id, f.name] as const),
      );
      const [gid, name] = orGiven(choose(mine, c.name, FILE_NAMES), [c.group, c.name] as const);
      return { ...c, user: u, session: sid, group: gid, name };
    }
  }
}

/** A short, readable form of a change for counterexamples: `u1/s2:share(g1,f1#0)`, `login(u1,h1,s1@p1)`. */
export function describeChange(c: Change): string {
  switch (c.kind) {
    case "create_user":
      return `create_user(${c.user},${c.hash})`;
    case "login":
      return `login(${c.user},${c.hash},${c.session}@${c.peer})`;
    case "logout":
      return `logout(${c.session})`;
    case "expire_sessions":
      return `expire(${c.sessions.join(",")})`;
    case "create_group":
    case "join_group":
    case "leave_group":
      return `${c.user}/${c.session}:${c.kind}(${c.group})`;
    case "accept_request":
    case "reject_request":
      return `${c.user}/${c.session}:${c.kind}(${c.group},${c.member})`;
    case "share":
      return `${c.user}/${c.session}:share(${c.group},${c.file.name}#${contentOf(c.file)})`;
    case "unshare":
      return `${c.user}/${c.session}:unshare(${c.group},${c.name})`;
  }
}
