// The invariants every replica's state must hold after any replay. Pure; used by tests and
// by the tracker's self-check.
import type { State } from "./state.ts";

/** Every broken invariant, as one line each; empty when the state is sound. */
export function brokenInvariants(state: State): string[] {
  const broken: string[] = [];
  for (const [peer, id] of state.peerSessions) {
    if (state.sessions.get(id)?.peer !== peer)
      broken.push(`peer ${peer} points at session ${id} that is not its own`);
  }
  for (const [id, s] of state.sessions) {
    if (!state.users.has(s.user)) broken.push(`session ${id} belongs to unknown user ${s.user}`);
    if (state.peerSessions.get(s.peer) !== id)
      broken.push(`session ${id} is not the session of its peer ${s.peer}`);
  }
  for (const [gid, g] of state.groups) {
    if (!g.members.has(g.owner)) broken.push(`group ${gid}: owner ${g.owner} is not a member`);
    for (const u of g.members) {
      if (g.pending.has(u)) broken.push(`group ${gid}: ${u} is both member and pending`);
      if (!state.users.has(u)) broken.push(`group ${gid}: member ${u} is no user`);
    }
    for (const [name, f] of g.files) {
      if (f.sharers.size === 0) broken.push(`group ${gid}: file ${name} has no sharer`);
      for (const [peer, user] of f.sharers) {
        if (!g.members.has(user)) broken.push(`group ${gid}: file ${name} shared by non-member ${user}`);
        const session = state.sessions.get(state.peerSessions.get(peer) ?? "");
        if (session?.user !== user)
          broken.push(`group ${gid}: file ${name} shared from ${peer} without ${user}'s session`);
      }
    }
  }
  return broken;
}
