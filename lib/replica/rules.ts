// The one rule book: whether a change is valid against a state, and what it does. Pure.
// The tracker checks a request with it, and every replay applies it at the operation's
// position, so an operation that became invalid there is a no-op on every tracker.
import { type Change, OK, type Outcome, refuse } from "./change.ts";
import type { Group, State } from "./state.ts";

/** Checks `change` against `state`; with `commit`, also applies it when valid. */
export function applyChange(state: State, change: Change, commit: boolean): Outcome {
  if ("session" in change && change.kind !== "login" && change.kind !== "logout") {
    const session = state.sessions.get(change.session);
    if (!session || session.user !== change.user) return refuse(NOT_LOGGED_IN);
  }
  switch (change.kind) {
    case "create_user": {
      if (state.users.has(change.user))
        return refuse(`user "${change.user}" already exists: pick another user id`);
      if (commit) state.users.set(change.user, { hash: change.hash });
      return OK;
    }
    case "login": {
      const user = state.users.get(change.user);
      if (!user) return refuse(`no user "${change.user}": run create_user first`);
      if (user.hash !== change.hash) return refuse("wrong user id or password");
      const current = state.sessions.get(change.session);
      // The same client logging in again with its token (after a failover to a tracker that had
      // not heard of its login), from the same key: its session goes on, with what it shares.
      if (current?.user === change.user && current.peer === change.peer && current.key === change.key)
        return OK;
      if (commit) {
        // One session per client address, one address per session: a new login replaces both.
        const previous = state.peerSessions.get(change.peer);
        if (previous !== undefined) endSession(state, previous);
        endSession(state, change.session);
        state.sessions.set(change.session, { user: change.user, peer: change.peer, key: change.key });
        state.peerSessions.set(change.peer, change.session);
      }
      return OK;
    }
    case "logout": {
      if (!state.sessions.has(change.session)) return refuse(NOT_LOGGED_IN);
      if (commit) endSession(state, change.session);
      return OK;
    }
    case "expire_sessions": {
      // Whichever sessions still exist at the op's place in the replay end; the others already did.
      if (!change.sessions.some((id) => state.sessions.has(id)))
        return refuse("no such session left to expire");
      if (commit) for (const id of change.sessions) endSession(state, id);
      return OK;
    }
    case "create_group": {
      if (state.groups.has(change.group))
        return refuse(`group "${change.group}" already exists: pick another group id`);
      if (commit) {
        state.addGroup(change.group, {
          owner: change.user,
          members: new Set([change.user]),
          pending: new Set(),
          files: new Map(),
        });
      }
      return OK;
    }
    case "join_group": {
      const g = state.groups.get(change.group);
      if (!g) return refuse(noGroup(change.group));
      if (g.members.has(change.user)) return refuse(`you are already a member of "${change.group}"`);
      if (g.pending.has(change.user))
        return refuse(
          `your request to join "${change.group}" is already pending: ask its owner ${g.owner} to accept`,
        );
      if (commit) state.writableGroup(change.group).pending.add(change.user);
      return OK;
    }
    case "leave_group": {
      const g = state.groups.get(change.group);
      if (!g) return refuse(noGroup(change.group));
      if (g.pending.has(change.user)) {
        if (commit) state.writableGroup(change.group).pending.delete(change.user); // withdraws the pending request
        return OK;
      }
      if (!g.members.has(change.user)) return refuse(notMember(change.group));
      if (commit) leaveGroup(state, change.group, change.user);
      return OK;
    }
    case "accept_request":
    case "reject_request": {
      const g = state.groups.get(change.group);
      if (!g) return refuse(noGroup(change.group));
      if (g.owner !== change.user)
        return refuse(`only the owner of "${change.group}" (${g.owner}) can answer join requests`);
      if (!g.pending.has(change.member))
        return refuse(
          `no pending request from "${change.member}" in "${change.group}": see list_requests ${change.group}`,
        );
      if (commit) {
        const w = state.writableGroup(change.group);
        w.pending.delete(change.member);
        if (change.kind === "accept_request") w.members.add(change.member);
      }
      return OK;
    }
    case "share": {
      const session = state.sessions.get(change.session);
      if (!session) return refuse(NOT_LOGGED_IN); // checked above; narrows the type
      const g = state.groups.get(change.group);
      if (!g) return refuse(noGroup(change.group));
      if (!g.members.has(change.user)) return refuse(notMember(change.group));
      const f = change.file;
      const existing = g.files.get(f.name);
      if (existing && (existing.sizeBytes !== f.sizeBytes || !sameBytes(existing.sha1, f.sha1))) {
        return refuse(
          `"${f.name}" is already shared in "${change.group}" with different content: rename your file`,
        );
      }
      if (commit) {
        const w = state.writableGroup(change.group);
        const file = w.files.get(f.name) ?? { ...f, sharers: new Map<string, string>() };
        file.sharers.set(session.peer, change.user);
        w.files.set(f.name, file);
      }
      return OK;
    }
    case "unshare": {
      const session = state.sessions.get(change.session);
      if (!session) return refuse(NOT_LOGGED_IN); // checked above; narrows the type
      const g = state.groups.get(change.group);
      if (!g) return refuse(noGroup(change.group));
      const file = g.files.get(change.name);
      if (!file?.sharers.has(session.peer))
        return refuse(`you do not share "${change.name}" in "${change.group}" from this client`);
      if (commit) removeSharer(state.writableGroup(change.group), change.name, session.peer);
      return OK;
    }
  }
}

/** The refusal of anything that needs a session the state does not hold (clients recognise it). */
export const NOT_LOGGED_IN = "not logged in: run login <user_id> <passwd>";

function noGroup(group: string): string {
  return `no group "${group}": see list_groups`;
}

function notMember(group: string): string {
  return `you are not a member of "${group}": run join_group ${group} and ask its owner to accept`;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && a.every((v, i) => v === b[i]);
}

/** Ends a session and withdraws everything shared from its client address. */
function endSession(state: State, sessionId: string): void {
  const session = state.sessions.get(sessionId);
  if (!session) return;
  state.sessions.delete(sessionId);
  if (state.peerSessions.get(session.peer) === sessionId) state.peerSessions.delete(session.peer);
  for (const [id, g] of state.groups) {
    if (g.files.size === 0) continue; // most groups: no garbage made for them
    const names = [...g.files]
      .filter(([, f]) => f.sharers.get(session.peer) === session.user)
      .map(([n]) => n);
    if (names.length === 0) continue;
    const w = state.writableGroup(id); // replaces the entry in place: iteration goes on
    for (const name of names) removeSharer(w, name, session.peer);
  }
}

/** Removes a member, their shares in the group, hands ownership on, and drops an empty group. */
function leaveGroup(state: State, groupId: string, user: string): void {
  const g = state.writableGroup(groupId);
  g.members.delete(user);
  for (const [name, file] of g.files) {
    for (const [peer, sharer] of file.sharers) if (sharer === user) removeSharer(g, name, peer);
  }
  if (g.members.size === 0) {
    state.groups.delete(groupId);
    return;
  }
  // Sets iterate in insertion order: the first member left is the longest-standing one.
  const longest = g.members.values().next();
  if (g.owner === user && !longest.done) g.owner = longest.value;
}

function removeSharer(g: Group, name: string, peer: string): void {
  const file = g.files.get(name);
  if (!file) return;
  file.sharers.delete(peer);
  if (file.sharers.size === 0) g.files.delete(name);
}
