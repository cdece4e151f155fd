// spec/unit/replica/rules.spec.ts: every refusal of the rule book, and the effects that are easy to get wrong.
import { describe, expect, test } from "bun:test";
import type { Change } from "../../../lib/replica/change.ts";
import { brokenInvariants } from "../../../lib/replica/invariants.ts";
import { applyChange } from "../../../lib/replica/rules.ts";
import { State } from "../../../lib/replica/state.ts";
import { fileMeta } from "../../helpers/replica_arbitraries.ts";

/** u1-u3; u1 on s1@p1 and u2 on s2@p2; g1 owned by u1 with member u2, u3 pending; u2 shares f1 from p2. */
function world(): State {
  const state = new State();
  const setup: Change[] = [
    { kind: "create_user", user: "u1", hash: "h1" },
    { kind: "create_user", user: "u2", hash: "h2" },
    { kind: "create_user", user: "u3", hash: "h3" },
    { kind: "login", user: "u1", session: "s1", peer: "p1" },
    { kind: "login", user: "u2", session: "s2", peer: "p2" },
    { kind: "create_group", user: "u1", group: "g1" },
    { kind: "join_group", user: "u2", group: "g1" },
    { kind: "accept_request", user: "u1", group: "g1", member: "u2" },
    { kind: "join_group", user: "u3", group: "g1" },
    { kind: "share", user: "u2", session: "s2", group: "g1", file: fileMeta("f1", 0) },
  ];
  for (const change of setup) expect(applyChange(state, change, true)).toEqual({ ok: true });
  return state;
}

/** Applies `change` to a fresh world; expects a refusal matching `reason` that changes nothing. */
function expectRefused(change: Change, reason: RegExp): void {
  const state = world();
  const before = state.snapshot();
  const outcome = applyChange(state, change, true);
  expect(outcome.ok).toBe(false);
  expect(outcome.ok ? "" : outcome.reason).toMatch(reason);
  expect(state.snapshot()).toEqual(before);
}

const share = (user: string, session: string, name: string, content: number, group = "g1"): Change => ({
  kind: "share", user, session, group, file: fileMeta(name, content),
});

describe("applyChange refusals", () => {
  test("refuses a user id that exists", () => expectRefused({ kind: "create_user", user: "u1", hash: "x" }, /user "u1" already exists/));
  test("refuses a login for an unknown user", () => expectRefused({ kind: "login", user: "u9", session: "s9", peer: "p9" }, /no user "u9"/));
  test("refuses a logout of an unknown session", () => expectRefused({ kind: "logout", session: "s9" }, /not logged in/));
  test("refuses a group created by an unknown user", () => expectRefused({ kind: "create_group", user: "u9", group: "g2" }, /no user "u9"/));
  test("refuses a group id that exists", () => expectRefused({ kind: "create_group", user: "u3", group: "g1" }, /group "g1" already exists/));
  test("refuses a join by an unknown user", () => expectRefused({ kind: "join_group", user: "u9", group: "g1" }, /no user "u9"/));
  test("refuses to join an unknown group", () => expectRefused({ kind: "join_group", user: "u3", group: "g2" }, /no group "g2"/));
  test("refuses a join by a member", () => expectRefused({ kind: "join_group", user: "u2", group: "g1" }, /already a member/));
  test("refuses a second pending join", () => expectRefused({ kind: "join_group", user: "u3", group: "g1" }, /already pending/));
  test("refuses to leave an unknown group", () => expectRefused({ kind: "leave_group", user: "u2", group: "g2" }, /no group "g2"/));
  test("refuses a leave by a non-member", () => {
    const state = world();
    applyChange(state, { kind: "create_group", user: "u3", group: "g2" }, true);
    const before = state.snapshot();
    expect(applyChange(state, { kind: "leave_group", user: "u1", group: "g2" }, true)).toMatchObject({ ok: false, reason: expect.stringMatching(/not a member of "g2"/) });
    expect(state.snapshot()).toEqual(before);
  });
  for (const kind of ["accept_request", "reject_request"] as const) {
    test(`refuses ${kind} in an unknown group`, () => expectRefused({ kind, user: "u1", group: "g2", member: "u3" }, /no group "g2"/));
    test(`refuses ${kind} by anyone but the owner`, () => expectRefused({ kind, user: "u2", group: "g1", member: "u3" }, /only the owner of "g1" \(u1\)/));
    test(`refuses ${kind} without a pending request`, () => expectRefused({ kind, user: "u1", group: "g1", member: "u2" }, /no pending request from "u2"/));
  }
  test("refuses a share from an unknown session", () => expectRefused(share("u2", "s9", "f2", 0), /not logged in/));
  test("refuses a share from another user's session", () => expectRefused(share("u2", "s1", "f2", 0), /not logged in/));
  test("refuses a share in an unknown group", () => expectRefused(share("u2", "s2", "f2", 0, "g2"), /no group "g2"/));
  test("refuses a share by a non-member", () => {
    const state = world();
    applyChange(state, { kind: "login", user: "u3", session: "s3", peer: "p3" }, true);
    expect(applyChange(state, share("u3", "s3", "f2", 0), true)).toMatchObject({ ok: false, reason: expect.stringMatching(/not a member of "g1"/) });
  });
  test("refuses a file name shared with different content", () => expectRefused(share("u1", "s1", "f1", 1), /"f1" is already shared in "g1" with different content/));
  test("refuses an unshare from another user's session", () => expectRefused({ kind: "unshare", user: "u2", session: "s1", group: "g1", name: "f1" }, /not logged in/));
  test("refuses an unshare in an unknown group", () => expectRefused({ kind: "unshare", user: "u2", session: "s2", group: "g2", name: "f1" }, /no group "g2"/));
  test("refuses an unshare of a file not shared from this client", () => {
    expectRefused({ kind: "unshare", user: "u1", session: "s1", group: "g1", name: "f1" }, /you do not share "f1" in "g1" from this client/);
  });
  test("checks without changing anything when not committing", () => {
    const state = world();
    const before = state.snapshot();
    expect(applyChange(state, { kind: "create_user", user: "u4", hash: "h" }, false)).toEqual({ ok: true });
    expect(state.snapshot()).toEqual(before);
  });
});

describe("applyChange effects", () => {
  test("adds a second sharer of the same content to one file", () => {
    const state = world();
    expect(applyChange(state, share("u1", "s1", "f1", 0), true)).toEqual({ ok: true });
    expect([...state.groups.get("g1")!.files.get("f1")!.sharers]).toEqual([["p2", "u2"], ["p1", "u1"]]);
  });

  test("withdraws a pending request on leave_group", () => {
    const state = world();
    expect(applyChange(state, { kind: "leave_group", user: "u3", group: "g1" }, true)).toEqual({ ok: true });
    expect([...state.groups.get("g1")!.pending]).toEqual([]);
  });

  test("hands a group to the longest-standing member when its owner leaves", () => {
    const state = world();
    applyChange(state, { kind: "accept_request", user: "u1", group: "g1", member: "u3" }, true);
    applyChange(state, { kind: "leave_group", user: "u1", group: "g1" }, true);
    expect(state.groups.get("g1")!.owner).toBe("u2");
    expect([...state.groups.get("g1")!.members]).toEqual(["u2", "u3"]);
  });

  test("removes a group its last member leaves, with its files", () => {
    const state = world();
    applyChange(state, { kind: "leave_group", user: "u2", group: "g1" }, true);
    expect(state.groups.get("g1")!.files.size).toBe(0); // u2's share went with u2
    applyChange(state, { kind: "leave_group", user: "u1", group: "g1" }, true);
    expect(state.groups.has("g1")).toBe(false);
  });

  test("ends the previous session of a client address on a new login there", () => {
    const state = world();
    expect(applyChange(state, { kind: "login", user: "u3", session: "s5", peer: "p2" }, true)).toEqual({ ok: true });
    expect(state.sessions.has("s2")).toBe(false);
    expect(state.groups.get("g1")!.files.has("f1")).toBe(false);
    expect(brokenInvariants(state)).toEqual([]);
  });

  test("stops a session's shares on logout", () => {
    const state = world();
    applyChange(state, { kind: "logout", session: "s2" }, true);
    expect(state.groups.get("g1")!.files.size).toBe(0);
    expect(brokenInvariants(state)).toEqual([]);
  });
});
