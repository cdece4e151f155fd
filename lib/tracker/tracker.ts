// Shell: one running tracker: its store, replica, client listener and replication, wired together.
import { addressNodeId, nodeIdOf, type TrackerInfo } from "../config.ts";
import { messageOf } from "../errors.ts";
import type { TlsIdentity } from "../identity/key_file.ts";
import { TrackerTrust } from "../identity/tracker_trust.ts";
import type { Change, Outcome } from "../replica/change.ts";
import { brokenInvariants } from "../replica/invariants.ts";
import { Replica } from "../replica/replica.ts";
import type { TrackerCore } from "./client_api.ts";
import { startExpiry } from "./expiry.ts";
import { Liveness, SESSION_EXPIRY_MS } from "./liveness.ts";
import { LoginThrottle } from "./login_throttle.ts";
import { listen } from "./server.ts";
import { Store } from "./store.ts";
import { Sync } from "./sync.ts";

export interface TrackerOptions {
  trackers: TrackerInfo;
  no: number;
  dataDir: string;
  secret?: string | undefined;
  identity: TlsIdentity;
  fsync?: boolean | undefined;
  /** Sessions unheard this long expire (default SESSION_EXPIRY_MS). */
  sessionExpiryMs?: number | undefined;
  log: (line: string) => void;
}

/** A started tracker; `stop()` closes it cleanly. */
export interface RunningTracker {
  port: number;
  replica: Replica;
  sync: Sync;
  liveness: Liveness;
  clientCount(): number;
  stop(): void;
}

/** Opens the data dir, rebuilds the replica from it, then listens and syncs. */
export function startTracker(options: TrackerOptions): RunningTracker {
  const me = options.trackers.find((t) => t.no === options.no);
  if (!me)
    throw new Error(`tracker ${options.no} is not in tracker_info.txt (it lists ${options.trackers.length})`);
  // Node ids come from what a line keeps (its pinned id, else its address): removing or
  // reordering lines renames no tracker.
  const node = nodeIdOf(me);
  const nodes = options.trackers.map(nodeIdOf);
  let store: Store;
  let replica: Replica;
  try {
    store = new Store(options.dataDir, node, {
      fsync: options.fsync,
      line: me.no,
      formerIds: [addressNodeId(me)],
      log: options.log,
    });
    const persisted = store.load(node);
    // Nothing stored while others exist: a new tracker, or one whose data dir was lost; or one
    // that was such and stopped before it caught up.
    const catchingUp =
      store.catchingUp || (!persisted.base && persisted.ops.length === 0 && nodes.length > 1);
    if (catchingUp) store.catchingUp = true;
    replica = Replica.restore(node, nodes, persisted, { catchingUp, name: `tracker ${me.no}` });
  } catch (err) {
    // Never serve a state we cannot read back whole: say what to do instead.
    const reason = messageOf(err);
    if (reason.includes(" belongs to ")) throw err;
    throw new Error(
      `cannot load ${options.dataDir} (${reason}): it is damaged; move its tracker.sqlite files aside and start again to resync everything from the other trackers (keep its identity.key: they know this tracker by it)`,
    );
  }
  // Lines that left the file since some start of ours, and those of them listed again.
  const previous = store.membership;
  const departed = new Set(previous.departed);
  for (const n of previous.members ?? []) if (!nodes.includes(n)) departed.add(n);
  const saveMembership = () => {
    store.membership = { members: nodes, departed: [...departed] };
  };
  saveMembership();
  const broken = brokenInvariants(replica.state);
  if (broken.length > 0)
    throw new Error(`stored state breaks an invariant (${broken[0]}): refusing to serve it`);
  const liveness = new Liveness();
  const nowMs = () => Date.now();
  const sync = new Sync({
    me,
    trackers: options.trackers,
    secret: options.secret,
    identity: options.identity,
    trust: new TrackerTrust(options.dataDir),
    replica,
    store,
    liveness,
    nowMs,
    log: options.log,
    returning: new Set(nodes.filter((n) => departed.has(n))),
    welcomedBack: (n) => {
      departed.delete(n);
      saveMembership();
    },
  });
  const core: TrackerCore = {
    replica,
    liveness,
    throttle: new LoginThrottle(),
    nowMs,
    commit(change: Change, rid?: string): Outcome {
      const { op, outcome } = replica.local(change, nowMs(), rid);
      if (op) {
        store.append([op]); // durable before anyone hears of it
        sync.broadcast([op]);
      }
      return outcome;
    },
  };
  const { listener, clients } = listen({
    host: me.host,
    port: me.port,
    core,
    sync,
    identity: options.identity,
    log: options.log,
  });
  sync.start();
  // Loading left garbage as big as the state (the base's bytes, its JSON text, the snapshot it
  // was parsed into): collect it right after `listening` rather than whenever the collector
  // gets to it (105 MB of state: 500 -> 214 MiB of RSS, one pause of a few hundred ms).
  setTimeout(() => Bun.gc(true), 0);
  const stopExpiry = startExpiry({
    me: me.no,
    trackerCount: nodes.length,
    replica,
    liveness,
    sync,
    commit: (change) => core.commit(change),
    expiryMs: options.sessionExpiryMs ?? SESSION_EXPIRY_MS,
    nowMs,
    log: options.log,
  });
  return {
    port: listener.port,
    replica,
    sync,
    liveness,
    clientCount: () => clients.size,
    stop() {
      stopExpiry();
      sync.stop();
      listener.stop(true);
      store.close();
    },
  };
}
