// The changes a tracker can make to the replicated state, and their outcomes. Types only.

/** A shared file's identity: what every seeder of a name must agree on. */
export interface FileMeta {
  name: string;
  sizeBytes: number;
  sha1: Uint8Array; // 20 bytes, whole file
  pieces: Uint8Array; // 20 bytes per 512 KiB piece
}

/** One state change; `user` is the acting user, already authenticated by the tracker shell. */
export type Change =
  | { kind: "create_user"; user: string; hash: string }
  | { kind: "login"; user: string; session: string; peer: string }
  | { kind: "logout"; session: string }
  | { kind: "create_group"; user: string; group: string }
  | { kind: "join_group"; user: string; group: string }
  | { kind: "leave_group"; user: string; group: string }
  | { kind: "accept_request"; user: string; group: string; member: string }
  | { kind: "reject_request"; user: string; group: string; member: string }
  | { kind: "share"; user: string; session: string; group: string; file: FileMeta }
  | { kind: "unshare"; user: string; session: string; group: string; name: string };

export type ChangeKind = Change["kind"];

/** What a change did: applied, or why it changed nothing. */
export type Outcome = { ok: true } | { ok: false; reason: string };

export const OK: Outcome = Object.freeze({ ok: true });

/** A refused change with its reason. */
export function refuse(reason: string): Outcome {
  return { ok: false, reason };
}
