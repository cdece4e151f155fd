// A cluster of trackers for a test: a temp dir with its tracker_info.txt on free loopback ports,
// and what is done to all its trackers at once (start, wait for their links, wait for convergence).
//
//   const cluster = await makeCluster({ trackers: 2 });
//   const [t1, t2] = await startTrackers(cluster);            // tracker_process.ts
//   const alice = await startClient(cluster);                 // client_process.ts: tries tracker 1, then 2
//   const bob = await startClient(cluster, { order: [2, 1] }); // tries tracker 2 first
//   expect(await alice.run("create_user alice pw")).toEqual({ out: ["user alice created"], err: [], log: [] });
//   await t1.kill("SIGKILL");
//   await t1.restart();                                       // same data dir
//   await settle(cluster);                                    // every tracker holds the same state
//   const relay = startRelay(cluster.slots[0]!);              // relay.ts: a client -> tracker 1 link a test can break
//   afterEach(stopAll); // processes.ts: kills every process started here and removes every temp dir
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { messageOf } from "../../lib/errors.ts";
import type { ClientProcess } from "./client_process.ts";
import { CLIENT_BIN, makeTempDir, TRACKER_BIN } from "./processes.ts";
import { startTracker, type TrackerProcess, type TrackerStartOptions } from "./tracker_process.ts";
import { freePort, HOST, waitUntil } from "./wait.ts";

let clientInfoCount = 0;

/** One tracker line of the cluster's tracker_info.txt. */
export interface TrackerSlot {
  no: number;
  host: string;
  port: number;
  /** `<cluster dir>/tracker-<no>.data`: kept across restarts. */
  dataDir: string;
}

/** A temp dir holding a tracker_info.txt of N trackers on 127.0.0.1 with free ports. */
export interface Cluster {
  dir: string;
  /** The real tracker_info.txt: trackers are numbered by its lines. */
  infoPath: string;
  slots: TrackerSlot[];
  /** Trackers started in this cluster, by number (the latest handle per number). */
  trackers: Map<number, TrackerProcess>;
  clients: ClientProcess[];
}

/** Creates a temp dir and writes its tracker_info.txt listing `trackers` (default 2) free ports. */
export async function makeCluster(options: { trackers?: number } = {}): Promise<Cluster> {
  const count = options.trackers ?? 2;
  if (!existsSync(TRACKER_BIN) || !existsSync(CLIENT_BIN)) {
    throw new Error(`${TRACKER_BIN} or ${CLIENT_BIN} is missing: run npm run build first`);
  }
  const dir = await makeTempDir();
  const slots: TrackerSlot[] = [];
  const ports = new Set<number>();
  while (slots.length < count) {
    const port = freePort();
    if (ports.has(port)) continue;
    ports.add(port);
    const no = slots.length + 1;
    slots.push({ no, host: HOST, port, dataDir: join(dir, `tracker-${no}.data`) });
  }
  const infoPath = join(dir, "tracker_info.txt");
  // Both accepted line forms and a comment, so every run also exercises the parser.
  const lines = slots.map((s, i) => (i % 2 === 0 ? `${s.host} ${s.port}` : `${s.host}:${s.port}`));
  await writeFile(infoPath, `# e2e cluster: tracker n is line n\n${lines.join("\n")}\n`);
  const cluster: Cluster = { dir, infoPath, slots, trackers: new Map(), clients: [] };
  return cluster;
}

/**
 * Writes a copy of the cluster's tracker_info.txt listing the trackers in `order`, so a client
 * tries them in that order: tracker numbers, or raw `host:port` strings (e.g. a proxy). Only
 * clients may use such a copy: trackers number themselves by the lines of the real file, and a
 * client numbers trackers by the lines of its own copy. Returns its path.
 */
export async function writeClientInfo(cluster: Cluster, order: (number | string)[]): Promise<string> {
  const lines = order.map((entry) => {
    if (typeof entry === "string") return entry;
    const slot = cluster.slots[entry - 1];
    if (!slot) throw new Error(`no tracker ${entry} in a cluster of ${cluster.slots.length}`);
    return `${slot.host} ${slot.port}`;
  });
  const path = join(cluster.dir, `tracker_info.client-${++clientInfoCount}.txt`);
  await writeFile(path, `${lines.join("\n")}\n`);
  return path;
}

/**
 * Starts every tracker of the cluster, in parallel, and (unless `linked: false`) waits until each
 * one's own sync links to all the others are up, so an operation is pushed at once from the start.
 */
export async function startTrackers(
  cluster: Cluster,
  options: TrackerStartOptions & { linked?: boolean } = {},
): Promise<TrackerProcess[]> {
  const { linked = true, ...start } = options;
  const trackers = await Promise.all(cluster.slots.map((s) => startTracker(cluster, s.no, start)));
  if (linked) await waitForLinks(cluster);
  return trackers;
}

/** Waits until every running tracker reports its sync link to every other running tracker up. */
export async function waitForLinks(cluster: Cluster, options: { timeoutMs?: number } = {}): Promise<void> {
  const running = () => [...cluster.trackers.values()].filter((t) => t.running);
  let last: string[] = [];
  try {
    await waitUntil(
      async () => {
        const trackers = running();
        const statuses = await Promise.all(trackers.map((t) => t.status()));
        last = statuses.map((s) => s.line);
        return statuses.every((s) => trackers.every((t) => s.links.get(t.no) !== false));
      },
      { timeoutMs: options.timeoutMs ?? 10_000, what: "the trackers' sync links" },
    );
  } catch (err) {
    throw new Error(`${messageOf(err)}; last status lines:\n${last.join("\n")}`);
  }
}

/** Waits until every running tracker of the cluster reports the same state digest; returns it. */
export async function settle(cluster: Cluster, options: { timeoutMs?: number } = {}): Promise<string> {
  const running = [...cluster.trackers.values()].filter((t) => t.running);
  let last: string[] = [];
  try {
    return await waitUntil(
      async () => {
        last = (await Promise.all(running.map((t) => t.status()))).map((s) => s.line);
        const digests = new Set(last.map((l) => l.match(/digest=(\S+)/)?.[1]));
        return digests.size === 1 ? [...digests][0]! : undefined;
      },
      { timeoutMs: options.timeoutMs ?? 10_000, what: "the trackers to converge" },
    );
  } catch (err) {
    throw new Error(`${messageOf(err)}; last status lines:\n${last.join("\n")}`);
  }
}
