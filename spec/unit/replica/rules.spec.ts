// spec/unit/replica/rules.spec.ts: every refusal of the rule book, and the effects that are easy to get wrong.
import { describe, expect, test } from "bun:test";
import type { Change } from "../../../lib/replica/change.ts";
import { brokenInvariants } from "../../../lib/replica/invariants.ts";
import { applyChange } from "../../../lib/replica/rules.ts";
import { State } from "../../../lib/replica/state.ts";
import { fileMeta } from "../../helpers/replica_arbitraries.ts";

/**
 * u1-u3 (hashes h1-h3), logged in on s1@p1, s2@p2 and s3@p3; g1 owned by u1 with member u2 and
 * u3 pending, u2 sharing f1 from p2; g2 owned by u2 alone.
 */
function world(): State {
  const state = new State();
  const setup: Change[] = [
    { kind: "create_user", user: "u1", hash: "h1" },
    { kind: "create_user", user: "u2", hash: "h2" },
    { kind: "create_user", user: "u3", hash: "h3" },
    { kind: "login", key: "k", user: "u1", hash: "h1", session: "s1", peer: "p1" },
    { kind: "login", key: "k", user: "u2", hash: "h2", session: "s2", peer: "p2" },
    { kind: "login", key: "k", user: "u3", hash: "h3", session: "s3", peer: "p3" },
    { kind: "create_group", user: "u1", session: "s1", group: "g1" },
    { kind: "join_group", user: "u2", session: "s2", group: "g1" },
    { kind: "accept_request", user: "u1", session: "s1", group: "g1", member: "u2" },
    { kind: "join_group", user: "u3", session: "s3", group: "g1" },
    { kind: "share", user: "u2", session: "s2", group: "g1", file: fileMeta("f1", 0) },
    { kind: "create_group", user: "u2", session: "s2", group: "g2" },
  ];
  for (const change of setup) expect(applyChange(state, change, true)).toEqual({ ok: true });
  return state;
}

/** Applies `change` to `state` (a fresh world by default); expects a refusal matching `reason` that changes nothing. */
function expectRefused(change: Change, reason: RegExp, state = world()): void {
  const before = state.snapshot();
  const outcome = applyChange(state, change, true);
  expect(outcome.ok).toBe(false);
  expect(outcome.ok ? "" : outcome.reason).toMatch(reason);
  expect(state.snapshot()).toEqual(before);
}

const share = (user: string, session: string, name: string, content: number, group = "g1"): Change => ({
  kind: "share",
  user,
  session,
  group,
  file: fileMeta(name, content),
});
const login = (user: string, hash: string, session = "s9", peer = "p9"): Change => ({
  kind: "login",
  key: "k",
  user,
  hash,
  session,
  peer,
});

/** One act of each kind that the world accepts from `user` through its own session; [user, session] picks who acts. */
const ACTS: Record<string, (user: string, session: string) => Change> = {
  "create_group by u3": (user, session) => ({ kind: "create_group", user, session, group: "g3" }),
  "join_group by u1": (user, session) => ({ kind: "join_group", user, session, group: "g2" }),
  "leave_group by u2": (user, session) => ({ kind: "leave_group", user, session, group: "g1" }),
  "accept_request by u1": (user, session) => ({
    kind: "accept_request",
    user,
    session,
    group: "g1",
    member: "u3",
  }),
  "reject_request by u1": (user, session) => ({
    kind: "reject_request",
    user,
    session,
    group: "g1",
    member: "u3",
  }),
  "share by u1": (user, session) => share(user, session, "f2", 0),
  "unshare by u2": (user, session) => ({ kind: "unshare", user, session, group: "g1", name: "f1" }),
};
const actorOf = (name: string) => name.slice(-2);
const own = (user: string) => `s${user.slice(1)}`;
const other = (user: string) => (user === "u1" ? "s2" : "s1");

describe("applyChange session check", () => {
  for (const [name, act] of Object.entries(ACTS)) {
    const user = actorOf(name);
    test(`accepts ${name} through their own session`, () => {
      expect(applyChange(world(), act(user, own(user)), true)).toEqual({ ok: true });
    });
    test(`refuses ${name} through an unknown session`, () =>
      expectRefused(act(user, "s9"), /^not logged in: run login <user_id> <passwd>$/));
    test(`refuses ${name} through another user's session`, () =>
      expectRefused(act(user, other(user)), /^not logged in/));
    test(`refuses ${name} through a session logged out before`, () => {
      const state = world();
      applyChange(state, { kind: "logout", session: own(user) }, true);
      expectRefused(act(user, own(user)), /^not logged in/, state);
    });
    test(`refuses ${name} through a session another login at its address replaced`, () => {
      const state = world();
      expect(applyChange(state, login(user, `h${user.slice(1)}`, "s8", `p${user.slice(1)}`), true)).toEqual({
        ok: true,
      });
      expectRefused(act(user, own(user)), /^not logged in/, state);
    });
  }
  test("refuses an act by an unknown user through an unknown session", () => {
    expectRefused({ kind: "join_group", user: "u9", session: "s9", group: "g1" }, /^not logged in/);
  });
  test("checks the session before any other rule", () => {
    expectRefused({ kind: "create_group", user: "u3", session: "s1", group: "g1" }, /^not logged in/); // g1 exists
    expectRefused(
      { kind: "accept_request", user: "u2", session: "s9", group: "g9", member: "u9" },
      /^not logged in/,
    ); // no g9
    expectRefused(share("u3", "s2", "f1", 1), /^not logged in/); // u3 pending, f1 has other content
  });
});

describe("applyChange refusals", () => {
  test("refuses a user id that exists", () =>
    expectRefused({ kind: "create_user", user: "u1", hash: "x" }, /user "u1" already exists/));
  test("refuses a login for an unknown user", () => expectRefused(login("u9", "h1"), /no user "u9"/));
  test("refuses a login with another hash than the user's", () =>
    expectRefused(login("u1", "h2"), /^wrong user id or password$/));
  test("refuses a login with the hash of a create_user that lost to another password", () => {
    // The login was checked on a tracker whose user u4 had hash "mine"; here u4 was created first with "theirs".
    const state = world();
    applyChange(state, { kind: "create_user", user: "u4", hash: "theirs" }, true);
    expectRefused({ kind: "create_user", user: "u4", hash: "mine" }, /user "u4" already exists/, state);
    expectRefused(login("u4", "mine"), /^wrong user id or password$/, state);
  });
  test("refuses a logout of an unknown session", () =>
    expectRefused({ kind: "logout", session: "s9" }, /not logged in/));
  test("refuses a group id that exists", () =>
    expectRefused(
      { kind: "create_group", user: "u3", session: "s3", group: "g1" },
      /group "g1" already exists/,
    ));
  test("refuses to join an unknown group", () =>
    expectRefused({ kind: "join_group", user: "u3", session: "s3", group: "g9" }, /no group "g9"/));
  test("refuses a join by a member", () =>
    expectRefused({ kind: "join_group", user: "u2", session: "s2", group: "g1" }, /already a member/));
  test("refuses a second pending join", () =>
    expectRefused({ kind: "join_group", user: "u3", session: "s3", group: "g1" }, /already pending/));
  test("refuses to leave an unknown group", () =>
    expectRefused({ kind: "leave_group", user: "u2", session: "s2", group: "g9" }, /no group "g9"/));
  test("refuses a leave by a non-member", () =>
    expectRefused({ kind: "leave_group", user: "u1", session: "s1", group: "g2" }, /not a member of "g2"/));
  for (const kind of ["accept_request", "reject_request"] as const) {
    const answer = (user: string, group: string, member: string): Change => ({
      kind,
      user,
      session: own(user),
      group,
      member,
    });
    test(`refuses ${kind} in an unknown group`, () =>
      expectRefused(answer("u1", "g9", "u3"), /no group "g9"/));
    test(`refuses ${kind} by anyone but the owner`, () =>
      expectRefused(answer("u2", "g1", "u3"), /only the owner of "g1" \(u1\)/));
    test(`refuses ${kind} without a pending request`, () =>
      expectRefused(answer("u1", "g1", "u2"), /no pending request from "u2"/));
  }
  test("refuses a share in an unknown group", () =>
    expectRefused(share("u2", "s2", "f2", 0, "g9"), /no group "g9"/));
  test("refuses a share by a non-member", () =>
    expectRefused(share("u3", "s3", "f2", 0), /not a member of "g1"/));
  test("refuses a file name shared with different content", () =>
    expectRefused(share("u1", "s1", "f1", 1), /"f1" is already shared in "g1" with different content/));
  test("refuses an unshare in an unknown group", () =>
    expectRefused({ kind: "unshare", user: "u2", session: "s2", group: "g9", name: "f1" }, /no group "g9"/));
  test("refuses an unshare of a file not shared from this client", () => {
    expectRefused(
      { kind: "unshare", user: "u1", session: "s1", group: "g1", name: "f1" },
      /you do not share "f1" in "g1" from this client/,
    );
  });
  test("checks without changing anything when not committing", () => {
    const state = world();
    const before = state.snapshot();
    expect(applyChange(state, { kind: "create_user", user: "u4", hash: "h" }, false)).toEqual({ ok: true });
    expect(
      applyChange(state, { kind: "create_group", user: "u3", session: "s3", group: "g3" }, false),
    ).toEqual({ ok: true });
    expect(state.snapshot()).toEqual(before);
  });
});

describe("applyChange effects", () => {
  test("adds a second sharer of the same content to one file", () => {
    const state = world();
    expect(applyChange(state, share("u1", "s1", "f1", 0), true)).toEqual({ ok: true });
    expect([...state.groups.get("g1")!.files.get("f1")!.sharers]).toEqual([
      ["p2", "u2"],
      ["p1", "u1"],
    ]);
  });

  test("withdraws a pending request on leave_group", () => {
    const state = world();
    expect(applyChange(state, { kind: "leave_group", user: "u3", session: "s3", group: "g1" }, true)).toEqual(
      { ok: true },
    );
    expect([...state.groups.get("g1")!.pending]).toEqual([]);
  });

  test("hands a group to the longest-standing member when its owner leaves", () => {
    const state = world();
    expect(
      applyChange(
        state,
        { kind: "accept_request", user: "u1", session: "s1", group: "g1", member: "u3" },
        true,
      ),
    ).toEqual({ ok: true });
    expect(applyChange(state, { kind: "leave_group", user: "u1", session: "s1", group: "g1" }, true)).toEqual(
      { ok: true },
    );
    expect(state.groups.get("g1")!.owner).toBe("u2");
    expect([...state.groups.get("g1")!.members]).toEqual(["u2", "u3"]);
  });

  test("removes a group its last member leaves, with its files", () => {
    const state = world();
    expect(applyChange(state, { kind: "leave_group", user: "u2", session: "s2", group: "g1" }, true)).toEqual(
      { ok: true },
    );
    expect(state.groups.get("g1")!.files.size).toBe(0); // u2's share went with u2
    expect(applyChange(state, { kind: "leave_group", user: "u1", session: "s1", group: "g1" }, true)).toEqual(
      { ok: true },
    );
    expect(state.groups.has("g1")).toBe(false);
  });

  test("ends the previous session of a client address on a new login there", () => {
    const state = world();
    expect(applyChange(state, login("u3", "h3", "s5", "p2"), true)).toEqual({ ok: true });
    expect(state.sessions.has("s2")).toBe(false);
    expect(state.groups.get("g1")!.files.has("f1")).toBe(false);
    expect(brokenInvariants(state)).toEqual([]);
  });

  test("stops a session's shares on logout", () => {
    const state = world();
    expect(applyChange(state, { kind: "logout", session: "s2" }, true)).toEqual({ ok: true });
    expect(state.groups.get("g1")!.files.size).toBe(0);
    expect(brokenInvariants(state)).toEqual([]);
  });
});
