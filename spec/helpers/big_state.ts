// Builds a large replicated state fast: through the pure replica, written to a tracker's store
// as its compacted base, as if that tracker had served the operations and compacted them.
import { Replica } from "../../lib/replica/replica.ts";
import { State } from "../../lib/replica/state.ts";
import { Store } from "../../lib/tracker/store.ts";

/** What writeBigState made. */
export interface BigState {
  user: string;
  pass: string;
  groups: string[];
  /** Bytes of the stored base's chunks: the state's size on the wire and on disk. */
  baseBytes: number;
}

/** The same argon2id settings as the tracker (lib/tracker/client_api.ts), so login works. */
const PASSWORD_HASH = { algorithm: "argon2id", memoryCost: 19_456, timeCost: 2 } as const;

/**
 * Writes into `dataDir` (a tracker `node`'s data dir, new or empty) a base holding one user
 * (`user`/`pass`, who can log in) owning `groups` groups with ids of `idBytes` bytes. With
 * `files`, the first group also holds that many files shared from a session left open.
 */
export async function writeBigState(
  dataDir: string,
  node: number,
  options: {
    groups: number;
    idBytes?: number;
    user?: string;
    /** Files shared in the first group (from a session left open). */
    files?: number;
    /** Piece hashes per file (20 bytes each; default 1). */
    piecesPerFile?: number;
    /** Users besides the owner (who never logged in). */
    users?: number;
    /**
     * Build the state itself rather than through the replica's operations: the same state,
     * at a third of the memory and time (the replica holds every op and two copies of the state
     * until it compacts), for the 1 GB benchmark.
     */
    direct?: boolean;
  },
): Promise<BigState> {
  const idBytes = options.idBytes ?? 200;
  const user = options.user ?? "owner".padEnd(30, "o");
  const pass = "pw-big";
  const hash = await Bun.password.hash(pass, PASSWORD_HASH);
  if (options.direct) return writeDirect(dataDir, node, { ...options, idBytes, user, pass, hash });
  const replica = new Replica(node, [node]);
  let now = Date.now() - 60_000;
  const must = (change: Parameters<Replica["local"]>[0]) => {
    const { outcome } = replica.local(change, now++);
    if (!outcome.ok) throw new Error(`building the big state: ${change.kind} failed: ${outcome.reason}`);
  };
  must({ kind: "create_user", user, hash });
  const session = "big-state-builder";
  must({ kind: "login", user, hash, session, peer: "127.0.0.1:1", key: "big-state-builder-key" });
  const groups: string[] = [];
  for (let i = 0; i < options.groups; i++) {
    const group = `g${i}-`.padEnd(idBytes, "x");
    groups.push(group);
    must({ kind: "create_group", user, session, group });
  }
  for (let i = 0; i < (options.users ?? 0); i++) must({ kind: "create_user", user: `user-${i}`, hash });
  const pieces = new Uint8Array(20 * (options.piecesPerFile ?? 1));
  for (let i = 0; i < (options.files ?? 0); i++) {
    const name = `file-${i}.bin`;
    const sizeBytes = Math.max(1, (pieces.byteLength / 20 - 1) * 512 * 1024 + 1);
    const file = { name, sizeBytes, sha1: new Uint8Array(20), pieces };
    must({ kind: "share", user, session, group: groups[0]!, file });
  }
  if (!options.files) must({ kind: "logout", session });
  replica.compact();
  const store = new Store(dataDir, node);
  store.saveBase(replica.baseImage());
  const baseBytes = store.storedBase()?.bytes ?? 0;
  store.close();
  return { user, pass, groups, baseBytes };
}

/** writeBigState's state made directly: what its operations would make, compacted. */
function writeDirect(
  dataDir: string,
  node: number,
  o: Parameters<typeof writeBigState>[2] & { idBytes: number; user: string; pass: string; hash: string },
): BigState {
  const state = new State();
  const { user, hash } = o;
  state.users.set(user, { hash });
  const peer = "127.0.0.1:1";
  if (o.files) {
    state.sessions.set("big-state-builder", { user, peer, key: "big-state-builder-key" });
    state.peerSessions.set(peer, "big-state-builder");
  }
  const groups: string[] = [];
  for (let i = 0; i < o.groups; i++) {
    const group = `g${i}-`.padEnd(o.idBytes, "x");
    groups.push(group);
    state.addGroup(group, { owner: user, members: new Set([user]), pending: new Set(), files: new Map() });
  }
  for (let i = 0; i < (o.users ?? 0); i++) state.users.set(`user-${i}`, { hash });
  const pieces = new Uint8Array(20 * (o.piecesPerFile ?? 1));
  const first = state.groups.get(groups[0] ?? "");
  for (let i = 0; i < (o.files ?? 0); i++) {
    const name = `file-${i}.bin`;
    const sizeBytes = Math.max(1, (pieces.byteLength / 20 - 1) * 512 * 1024 + 1);
    first?.files.set(name, {
      name,
      sizeBytes,
      sha1: new Uint8Array(20),
      pieces,
      sharers: new Map([[peer, user]]),
    });
  }
  // As many ops as the replica path would have folded: every entry made by one.
  const ops = 2 + o.groups + (o.users ?? 0) + (o.files ?? 0) + (o.files ? 0 : 1);
  const stamp = { wall: Date.now() - 60_000 + ops, count: 0, node };
  const store = new Store(dataDir, node);
  store.saveBase({ stamp, vv: [[node, ops]], state });
  const baseBytes = store.storedBase()?.bytes ?? 0;
  store.close();
  return { user, pass: o.pass, groups, baseBytes };
}
