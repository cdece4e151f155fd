// The changes a tracker can make to the replicated state, and their outcomes. Types only.

/** A shared file's identity: what every seeder of a name must agree on. */
export interface FileMeta {
  name: string;
  sizeBytes: number;
  sha1: Uint8Array; // 20 bytes, whole file
  pieces: Uint8Array; // 20 bytes per 512 KiB piece
}

/**
 * One state change. `user` acts through `session`, both checked by the tracker shell when it
 * accepts the change and again by the rules at its place in every replay: an act through a
 * session that no longer exists there (a login that lost a conflict, a logout) changes nothing.
 * A login names the password hash it was checked against, so it is void if that user id was
 * won by a concurrent create_user with another password.
 */
export type Change =
  | { kind: "create_user"; user: string; hash: string }
  | { kind: "login"; user: string; hash: string; session: string; peer: string; key: string }
  | { kind: "logout"; session: string }
  /** Ends sessions whose clients vanished without logout (unheard by every tracker for a while). */
  | { kind: "expire_sessions"; sessions: string[] }
  | { kind: "create_group" | "join_group" | "leave_group"; user: string; session: string; group: string }
  | {
      kind: "accept_request" | "reject_request";
      user: string;
      session: string;
      group: string;
      member: string;
    }
  | { kind: "share"; user: string; session: string; group: string; file: FileMeta }
  | { kind: "unshare"; user: string; session: string; group: string; name: string };

export type ChangeKind = Change["kind"];

/** Sessions one expire_sessions op may end: a constant bound on what one op carries. */
export const MAX_EXPIRED_PER_OP = 1_000;

/** What a change did: applied, or why it changed nothing. */
export type Outcome = { ok: true } | { ok: false; reason: string };

export const OK: Outcome = Object.freeze({ ok: true });

/** A refused change with its reason. */
export function refuse(reason: string): Outcome {
  return { ok: false, reason };
}
