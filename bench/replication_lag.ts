// Replication lag: from a write acknowledged by tracker 1 to the moment tracker 2 serves it.
//
// Method. One user has a session at each tracker, on two persistent connections. For each
// sample it sends `create_group lagN` to tracker 1 and, at the same time, asks tracker 2
// `list_requests lagN` back to back (one request in flight, each sent the moment the previous
// reply arrives) until tracker 2 answers ok. The protocol has no subscription, so this probe
// is the finest observer there is: its resolution is one probe round trip (~0.1 ms idle on
// loopback), reported with the figures. lag = (arrival of the first ok probe reply) -
// (arrival of tracker 1's ack), so it is an upper bound by up to one probe round trip. Tracker 1
// pushes an op to tracker 2 before it answers the client, so tracker 2 may serve it first: such
// a sample counts as 0 (visible no later than acknowledged), and their number is reported.
// Each sample's group is then removed (the owner leaves it), so state stays the same size.

import { latencyPercentiles } from "./stats.ts";
import { TrackerConn } from "./tracker_conn.ts";
import { LOAD_PASSWORD } from "./tracker_load.ts";

const HOST = "127.0.0.1";
/** A sample not visible at tracker 2 after this long is a failure, not a number. */
const SAMPLE_TIMEOUT_MS = 10_000;

/** One run of samples: lag percentiles, probe resolution, and how many were visible before the ack. */
export interface LagRun {
  samples: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  beforeAck: number;
  probeRttP50Ms: number;
}

/** The writer (tracker 1) and observer (tracker 2) sessions of one lag user. */
export interface LagPair {
  writer: TrackerConn;
  observer: TrackerConn;
  user: string;
  next: number;
}

/** Creates user `user` and logs it in at tracker 1 (writer) and tracker 2 (observer). */
export async function openLagPair(ports: [number, number], user: string): Promise<LagPair> {
  const writer = await TrackerConn.open(HOST, ports[0]);
  const observer = await TrackerConn.open(HOST, ports[1]);
  await writer.ok({ t: "create_user", user, pass: LOAD_PASSWORD, rid: `${user}-create` });
  const peer = (n: number) => `${HOST}:${40_000 + n + Math.floor(Math.random() * 20_000)}`;
  await writer.ok({
    t: "login",
    user,
    pass: LOAD_PASSWORD,
    peer: peer(0),
    token: crypto.getRandomValues(new Uint8Array(32)),
    rid: `${user}-l1`,
  });
  // The user must have reached tracker 2 before it can log in there.
  for (let tries = 0; ; tries++) {
    const r = await observer.request({
      t: "login",
      user,
      pass: LOAD_PASSWORD,
      peer: peer(1),
      token: crypto.getRandomValues(new Uint8Array(32)),
      rid: `${user}-l2-${tries}`,
    });
    if (r.ok) break;
    if (tries > 100) throw new Error(`cannot log ${user} in at tracker 2: ${r.reason}`);
    await Bun.sleep(50);
  }
  return { writer, observer, user, next: 0 };
}

/** Takes samples until `count` are done or `stop()` says so; pauses 5-25 ms between samples. */
export async function measureLag(
  pair: LagPair,
  options: { count?: number; stop?: () => boolean },
): Promise<LagRun> {
  const lags: number[] = [];
  const probeRtts: number[] = [];
  let beforeAck = 0;
  while ((options.count === undefined || lags.length < options.count) && !(options.stop?.() ?? false)) {
    const group = `${pair.user}-g${++pair.next}`;
    let ackAt = 0;
    const write = pair.writer.ok({ t: "create_group", group, rid: `${group}-c` }).then(() => {
      ackAt = performance.now();
    });
    const deadline = performance.now() + SAMPLE_TIMEOUT_MS;
    let seenAt = 0;
    while (seenAt === 0) {
      const sent = performance.now();
      const reply = await pair.observer.request({ t: "list_requests", group });
      const got = performance.now();
      probeRtts.push(got - sent);
      if (reply.ok) seenAt = got;
      else if (got > deadline)
        throw new Error(
          `${group} acknowledged by tracker 1 but not visible at tracker 2 after ${SAMPLE_TIMEOUT_MS} ms`,
        );
    }
    await write;
    const lag = seenAt - ackAt;
    if (lag <= 0) beforeAck++;
    lags.push(Math.max(0, lag));
    await pair.writer.ok({ t: "leave_group", group, rid: `${group}-l` }); // the owner leaves: the group is gone
    await Bun.sleep(5 + Math.random() * 20); // off any timer's beat (sync status ticks every 500 ms)
  }
  const { p50, p99 } = latencyPercentiles(lags);
  return {
    samples: lags.length,
    p50Ms: p50,
    p99Ms: p99,
    maxMs: Math.max(...lags),
    beforeAck,
    probeRttP50Ms: latencyPercentiles(probeRtts).p50,
  };
}
