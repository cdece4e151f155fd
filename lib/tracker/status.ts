// The tracker's `status` command: one line of what it holds and how its links are.
import { createHash } from "node:crypto";
import { encodeJsonValue } from "../wire/codec.ts";
import type { RunningTracker } from "./tracker.ts";

/** `ops=.. users=.. groups=.. sessions=.. entries=.. state_bytes=.. live=.. digest=.. tracker2=up(120ms)` */
export function trackerStatus(t: RunningTracker): string {
  const state = t.replica.state;
  const digest = createHash("sha1").update(JSON.stringify(state.snapshot())).digest("hex").slice(0, 12);
  const links = t.sync.peers().map((p) => `tracker${p.no}=${p.connected ? `up(${p.silentMs}ms)` : "down"}`);
  return [
    `clients=${t.clientCount()}`,
    `ops=${t.replica.ops.length}`,
    `users=${state.users.size}`,
    `groups=${state.groups.size}`,
    `sessions=${state.sessions.size}`,
    `entries=${state.entryCount()}`,
    `state_bytes=${encodeJsonValue(state.snapshot()).byteLength}`,
    `live=${t.liveness.liveCount(Date.now())}`,
    `digest=${digest}`,
    ...links,
  ].join(" ");
}
