// Tracker load: simulated clients speaking our client<->tracker protocol straight to tracker 1
// (logins, then a closed-loop or paced mix of list_groups, list_files and join_group) and the
// latency each operation sees. Replication lag lives in replication_lag.ts.

import { latencyPercentiles } from "./stats.ts";
import { TrackerConn } from "./tracker_conn.ts";

const HOST = "127.0.0.1";
const PASSWORD = "load-pw";
/** Files shared in each user's group, so that list_files returns real rows. */
const FILES_PER_GROUP = 5;
/** The steady mix: shares of list_groups and list_files; the rest is join_group / leave_group. */
export interface Mix {
  listGroups: number;
  listFiles: number;
}
export const MIX: Mix = { listGroups: 0.4, listFiles: 0.4 };

/** One simulated client: its own connection and session (a distinct peer address). */
export interface SimClient {
  conn: TrackerConn;
  /** The user's own group (member: list_files works). */
  own: string;
  /** Another user's group it joins, then leaves (withdrawing the request), over and over. */
  target: string;
  requested: boolean;
  rids: number;
  id: number;
}

/** Latency of one kind of operation over a run. */
export interface OpFigures {
  count: number;
  p50Ms: number;
  p99Ms: number;
}

/** One steady run: throughput over the measured window, latency overall and per kind. */
export interface SteadyRun {
  opsPerSecond: number;
  all: OpFigures;
  byKind: Record<string, OpFigures>;
  failures: number;
  firstFailure?: string | undefined;
  windowS: number;
  /** Paced runs: the share of sends that went out over 1 ms late (the previous reply was late). */
  behindSchedule: number;
}

let nextPeerPort = 20_000;

/** Creates `users` users, each owning a group with FILES_PER_GROUP shared files (untimed). */
export async function seedTracker(port: number, users: number): Promise<void> {
  await Promise.all(
    Array.from({ length: users }, async (_, u) => {
      const conn = await TrackerConn.open(HOST, port);
      await conn.ok({ t: "create_user", user: `u${u}`, pass: PASSWORD, rid: `seed-${u}-1` });
      await login(conn, u);
      await conn.ok({ t: "create_group", group: `g${u}`, rid: `seed-${u}-2` });
      for (let f = 0; f < FILES_PER_GROUP; f++) {
        const pieces = crypto.getRandomValues(new Uint8Array(20 * 8));
        const sha1 = crypto.getRandomValues(new Uint8Array(20));
        await conn.ok({
          t: "share",
          group: `g${u}`,
          name: `file${f}.bin`,
          sizeBytes: 8 * 512 * 1024,
          sha1,
          pieces,
          rid: `seed-${u}-f${f}`,
        });
      }
      conn.close();
    }),
  );
}

/** Opens `count` connections and logs each in as one of `users` users; returns them and each login's ms. */
export async function loginClients(
  port: number,
  options: { count: number; users: number },
): Promise<{ clients: SimClient[]; loginMs: number[]; wallS: number }> {
  const { count, users } = options;
  const conns = await Promise.all(Array.from({ length: count }, () => TrackerConn.open(HOST, port)));
  const started = performance.now();
  const loginMs = await Promise.all(
    conns.map(async (conn, i) => {
      const t0 = performance.now();
      await login(conn, i % users);
      return performance.now() - t0;
    }),
  );
  const wallS = (performance.now() - started) / 1000;
  const clients = conns.map((conn, i) => {
    const u = i % users;
    // Client i of user u joins group u + 1 + floor(i / users): distinct for each client of a
    // user (while clients per user < users), never the user's own, so every join and leave is valid.
    const target = (u + 1 + Math.floor(i / users)) % users;
    return { conn, own: `g${u}`, target: `g${target}`, requested: false, rids: 0, id: i };
  });
  return { clients, loginMs, wallS };
}

/**
 * Runs every client for a warm-up and a measured window. Closed loop (no `ratePerSecond`):
 * each client sends its next request the moment the previous reply arrives, so the tracker is
 * always saturated and, by Little's law, mean latency = clients / throughput (200 clients at
 * 20,000 ops/s wait 10 ms on average): this gives the maximum throughput. Paced (open loop):
 * each client sends on its own fixed schedule (random phase) so that all of them together
 * offer `ratePerSecond`; this gives the latency at that load. A client still waiting for a reply
 * when its next send is due sends at once and counts as behind schedule (latency is measured
 * from the actual send, so a tracker that falls behind shows in `behindSchedule`, and in the
 * achieved rate, rather than in unbounded queueing delay).
 */
export async function runLoad(
  clients: SimClient[],
  options: { warmupMs: number; durationMs: number; ratePerSecond?: number; mix?: Mix },
): Promise<SteadyRun> {
  const mix = options.mix ?? MIX;
  const startMs = performance.now();
  const measureFrom = startMs + options.warmupMs;
  const until = measureFrom + options.durationMs;
  const intervalMs = options.ratePerSecond ? (1000 * clients.length) / options.ratePerSecond : 0;
  const samples: Record<string, number[]> = {
    list_groups: [],
    list_files: [],
    join_group: [],
    leave_group: [],
  };
  let failures = 0;
  let behind = 0;
  let firstFailure: string | undefined;
  await Promise.all(
    clients.map(async (c) => {
      let due = startMs + Math.random() * intervalMs;
      while (performance.now() < until) {
        if (intervalMs > 0) {
          if (due >= until) break;
          const wait = due - performance.now();
          if (wait > 0) await Bun.sleep(wait);
          else if (wait < -1 && due >= measureFrom) behind++;
          due += intervalMs;
        }
        const body = nextRequest(c, mix);
        const t0 = performance.now();
        const reply = await c.conn.request(body);
        const ms = performance.now() - t0;
        if (!reply.ok) {
          failures++;
          firstFailure ??= `${body.t}: ${reply.reason}`;
        } else if (body.t === "join_group" || body.t === "leave_group") {
          c.requested = !c.requested;
        }
        if (t0 >= measureFrom && t0 < until) samples[body.t]!.push(ms);
      }
    }),
  );
  const all = Object.values(samples).flat();
  const byKind: Record<string, OpFigures> = {};
  for (const [kind, values] of Object.entries(samples)) byKind[kind] = figures(values);
  const windowS = options.durationMs / 1000;
  return {
    opsPerSecond: all.length / windowS,
    all: figures(all),
    byKind,
    failures,
    firstFailure,
    windowS,
    behindSchedule: behind / Math.max(1, all.length),
  };
}

/** The next request of a client, drawn from the mix. */
function nextRequest(c: SimClient, mix: Mix): { t: string } & Record<string, unknown> {
  const r = Math.random();
  if (r < mix.listGroups) return { t: "list_groups" };
  if (r < mix.listGroups + mix.listFiles) return { t: "list_files", group: c.own };
  // Join, then leave (withdrawing the request): each is a real write, replicated to tracker 2.
  return { t: c.requested ? "leave_group" : "join_group", group: c.target, rid: `load-${c.id}-${++c.rids}` };
}

/** p50/p99 and count of latency samples in ms. */
export function figures(values: number[]): OpFigures {
  const { p50, p99, count } = latencyPercentiles(values);
  return { count, p50Ms: p50, p99Ms: p99 };
}

/** Logs `conn` in as user `u` from a fresh fake peer address (one session per address). */
export async function login(conn: TrackerConn, u: number, user = `u${u}`): Promise<void> {
  const token = crypto.getRandomValues(new Uint8Array(32));
  await conn.ok({
    t: "login",
    user,
    pass: PASSWORD,
    peer: `${HOST}:${nextPeerPort++}`,
    token,
    rid: `login-${nextPeerPort}`,
  });
}

/** The password of every load user (replication_lag.ts logs in as one of them). */
export const LOAD_PASSWORD = PASSWORD;
