// The tracker's `status` command: one line of what it holds and how its links are.
import { createHash } from "node:crypto";
import { ZERO_STAMP } from "../replica/stamp.ts";
import { encodeBase } from "../wire/base_stream.ts";
import type { RunningTracker } from "./tracker.ts";

/** `ops=.. users=.. groups=.. sessions=.. entries=.. state_bytes=.. live=.. digest=.. [catching_up=tracker3] tracker2=up(120ms)` */
export function trackerStatus(t: RunningTracker): string {
  const state = t.replica.state;
  // The state's records as a base would hold them, hashed chunk by chunk: no one big string.
  const hash = createHash("sha1");
  let stateBytes = 0;
  for (const chunk of encodeBase({ stamp: ZERO_STAMP, vv: [] }, state)) {
    hash.update(chunk);
    stateBytes += chunk.byteLength;
  }
  const digest = hash.digest("hex").slice(0, 12);
  const peers = t.sync.peers();
  const links = peers.map((p) => `tracker${p.no}=${p.connected ? `up(${p.silentMs}ms)` : "down"}`);
  // A tracker that lost its data takes no change until each of these has reported (see Replica).
  const awaited = new Set(t.replica.awaitedReports());
  const waitingFor = peers.filter((p) => awaited.has(p.node)).map((p) => `tracker${p.no}`);
  return [
    `clients=${t.clientCount()}`,
    `ops=${t.replica.ops.length}`,
    `users=${state.users.size}`,
    `groups=${state.groups.size}`,
    `sessions=${state.sessions.size}`,
    `entries=${state.entryCount()}`,
    `state_bytes=${stateBytes}`,
    `live=${t.liveness.liveCount(Date.now())}`,
    `digest=${digest}`,
    ...(t.replica.catchingUp ? [`catching_up=${waitingFor.join(",")}`] : []),
    ...links,
  ].join(" ");
}
