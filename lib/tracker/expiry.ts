// Shell: ends the sessions of clients that vanished without logout, by a replicated op, so that
// every tracker drops the same ones. One tracker decides at a time: the lowest-numbered of those
// in touch, and only while it is in touch with a majority (a tracker cut off with a minority
// cannot hear the others' clients, so it must not judge them).
import { type Change, MAX_EXPIRED_PER_OP, type Outcome } from "../replica/change.ts";
import type { Replica } from "../replica/replica.ts";
import type { Liveness } from "./liveness.ts";
import type { Sync } from "./sync.ts";

export interface ExpiryOptions {
  me: number;
  /** Trackers in the file, this one included. */
  trackerCount: number;
  replica: Replica;
  liveness: Liveness;
  sync: Sync;
  commit: (change: Change) => Outcome;
  expiryMs: number;
  nowMs: () => number;
  log: (line: string) => void;
}

/** Checks every quarter of the expiry time (at most every 10 s); returns a stop function. */
export function startExpiry(options: ExpiryOptions): () => void {
  const sinceMs = options.nowMs();
  const everyMs = Math.min(options.expiryMs / 4, 10_000);
  const timer = setInterval(() => expireSilent(options, sinceMs), everyMs);
  return () => clearInterval(timer);
}

function expireSilent(o: ExpiryOptions, sinceMs: number): void {
  if (o.replica.catchingUp) return;
  const inTouch = o.sync
    .peers()
    .filter((p) => p.connected)
    .map((p) => p.no);
  if (2 * (inTouch.length + 1) <= o.trackerCount) return; // no majority here
  if (inTouch.some((n) => n < o.me)) return; // a lower-numbered tracker decides
  const now = o.nowMs();
  const silent = o.liveness.silent(o.replica.state.sessions, {
    nowMs: now,
    afterMs: o.expiryMs,
    sinceMs,
    max: MAX_EXPIRED_PER_OP,
  });
  if (silent.length === 0) return;
  const outcome = o.commit({ kind: "expire_sessions", sessions: silent });
  if (outcome.ok) o.log(`expired ${silent.length} session(s) unheard for ${Math.round(o.expiryMs / 1000)} s`);
}
