// Tracker clusters whose tracker-to-tracker links can be cut and healed (partitions) for the
// soak and the partition tests. Owns the network namespaces it creates; must leave none behind.
//
// How a partition is made, and why this way:
// - A tracker listens on its own line of tracker_info.txt, dials the other lines, and accepts sync
//   only from a listed IP. On one 127.0.0.1 the trackers cannot tell each other's connections
//   apart by address, so nothing between two particular trackers can be cut there. (Giving each
//   tracker its own copy of the file listing relays for the others works too, but it is a
//   user-space imitation: a relay closes or stalls sockets, the kernel never loses a packet.)
// - SIGSTOP of a tracker looks like a partition to the other trackers, but its clients are frozen
//   with it, so nobody can write on the cut-off side: it is a stall, not split brain.
// - So, where `ip netns` works (root), every tracker runs in its own network namespace with its
//   own IP (10.X.Y.<no>) on a veth pair plugged into one bridge in the root namespace. Clients
//   stay in the root namespace and reach every tracker through the bridge the whole time; the
//   trackers reach each other through the same bridge with their real listed IPs, so the
//   "sync only from listed addresses" check runs for real. A partition between trackers a and b
//   is a permanent neighbour (ARP) entry in each one's namespace that maps the other's IP to a
//   MAC nobody has: their frames still go out, no interface accepts them, and the packets are
//   silently lost in both directions, exactly like a cut cable. Established TCP connections
//   stall and retransmit, new ones hang in SYN retries; healing deletes the entries, the kernel
//   re-resolves the real MAC and TCP carries on by itself (pending retransmissions included).
//   (This kernel has no netem or tc actions, so a drop filter is not an option.)
// - Where namespaces are not available, `method: "freeze"` falls back to SIGSTOP/SIGCONT of
//   every tracker outside the largest side, with the limitation above.

import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type Cluster, makeCluster, type TrackerSlot } from "../spec/helpers/cluster.ts";
import { makeTempDir } from "../spec/helpers/processes.ts";
import { startTracker, type TrackerProcess } from "../spec/helpers/tracker_process.ts";

/** How a partition is made: see the header. */
export type PartitionMethod = "netns" | "freeze";

/** A MAC no interface has: frames sent to it are dropped by every receiver. */
const NOWHERE_MAC = "02:00:00:00:00:00";
/** Every name this module creates starts with this, then the creating process's pid. */
const NAME_PREFIX = "p2p";

/** Runs `ip` with `args`; throws with its stderr when it fails. */
async function ip(args: string[]): Promise<string> {
  const proc = Bun.spawn(["ip", ...args], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  if (code !== 0) throw new Error(`ip ${args.join(" ")} failed (${code}): ${err.trim()}`);
  return out;
}

let netnsUsable: Promise<boolean> | undefined;

/** Whether this process may create network namespaces (root with iproute2); probed once. */
export function netnsAvailable(): Promise<boolean> {
  netnsUsable ??= (async () => {
    if (process.platform !== "linux" || process.getuid?.() !== 0) return false;
    const name = `${NAME_PREFIX}${process.pid}probe`;
    try {
      await ip(["netns", "add", name]);
      await ip(["netns", "del", name]);
      return true;
    } catch {
      return false;
    }
  })();
  return netnsUsable;
}

/** Deletes namespaces and bridges left by runs of this module whose process is gone. */
async function sweepStale(): Promise<void> {
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  const stale = (name: string) => {
    const m = name.match(new RegExp(`^${NAME_PREFIX}(\\d+)[a-z]`));
    return m !== null && Number(m[1]) !== process.pid && !alive(Number(m[1]));
  };
  for (const line of (await ip(["netns", "list"]).catch(() => "")).split("\n")) {
    const name = line.split(" ")[0] ?? "";
    if (!stale(name)) continue;
    // Trackers a crashed run of ours started in that namespace: end them by pid, then the namespace.
    const pids = (await ip(["netns", "pids", name]).catch(() => "")).split(/\s+/).filter(Boolean);
    for (const pid of pids) {
      try {
        process.kill(Number(pid), "SIGKILL");
      } catch {}
    }
    await ip(["netns", "del", name]).catch(() => {});
  }
  for (const line of (await ip(["-o", "link", "show", "type", "bridge"]).catch(() => "")).split("\n")) {
    const name = line.match(/^\d+: ([^:@]+)/)?.[1];
    if (name && stale(name)) await ip(["link", "del", name]).catch(() => {});
  }
}

/** A free 10.X.Y.0/24 (no route of the root namespace mentions it). */
async function freeSubnet(): Promise<string> {
  const routes = await ip(["-4", "route", "show", "table", "all"]);
  for (;;) {
    const prefix = `10.${100 + Math.floor(Math.random() * 150)}.${Math.floor(Math.random() * 250)}`;
    if (!routes.includes(`${prefix}.`)) return prefix;
  }
}

/** A tracker cluster whose tracker-to-tracker links can be cut; clients always reach every tracker. */
export class PartitionableCluster {
  readonly cluster: Cluster;
  readonly method: PartitionMethod;
  /** Tracker numbers grouped by side while partitioned; empty when whole. */
  sides: number[][] = [];
  #netns: string[];
  #bridge: string | undefined;
  #ifaces: string[];
  /** Cut pairs [a, b]: a's namespace drops what goes to b. */
  #cut: [number, number][] = [];
  /** Frozen trackers (method freeze), by number. */
  #frozen = new Set<number>();

  private constructor(
    cluster: Cluster,
    method: PartitionMethod,
    netns: string[] = [],
    ifaces: string[] = [],
    bridge?: string,
  ) {
    this.cluster = cluster;
    this.method = method;
    this.#netns = netns;
    this.#ifaces = ifaces;
    this.#bridge = bridge;
    live.add(this);
  }

  /** Creates the cluster (namespaces when `method` is netns or auto and they work); starts nothing. */
  static async create(options: {
    trackers: number;
    method?: PartitionMethod | "auto";
  }): Promise<PartitionableCluster> {
    const wanted = options.method ?? "auto";
    const method: PartitionMethod =
      wanted === "auto" ? ((await netnsAvailable()) ? "netns" : "freeze") : wanted;
    if (method === "freeze")
      return new PartitionableCluster(await makeCluster({ trackers: options.trackers }), "freeze");
    if (!(await netnsAvailable()))
      throw new Error("network namespaces are not available here (root and iproute2 are needed)");
    await sweepStale();
    const id = `${NAME_PREFIX}${process.pid}${String.fromCharCode(97 + (clusterCount++ % 26))}`;
    const subnet = await freeSubnet();
    const dir = await makeTempDir("p2p-partition-");
    const slots: TrackerSlot[] = [];
    for (let no = 1; no <= options.trackers; no++)
      slots.push({ no, host: `${subnet}.${no}`, port: 6000 + no, dataDir: join(dir, `tracker-${no}.data`) });
    const infoPath = join(dir, "tracker_info.txt");
    await writeFile(
      infoPath,
      `# trackers in network namespaces ${id}n*\n${slots.map((s) => `${s.host} ${s.port}`).join("\n")}\n`,
    );
    const cluster: Cluster = { dir, infoPath, slots, trackers: new Map(), clients: [] };
    const bridge = `${id}b`;
    const netns = slots.map((s) => `${id}n${s.no}`);
    const ifaces = slots.map((s) => `${id}v${s.no}`);
    const pc = new PartitionableCluster(cluster, "netns", [], ifaces, bridge);
    try {
      await ip(["link", "add", bridge, "type", "bridge"]);
      await ip(["addr", "add", `${subnet}.254/24`, "dev", bridge]);
      await ip(["link", "set", bridge, "up"]);
      for (const s of slots) {
        const ns = netns[s.no - 1]!;
        const inside = ifaces[s.no - 1]!;
        const outside = `${id}r${s.no}`;
        await ip(["netns", "add", ns]);
        pc.#netns.push(ns);
        await ip(["link", "add", outside, "type", "veth", "peer", "name", inside]);
        await ip(["link", "set", outside, "master", bridge, "up"]);
        await ip(["link", "set", inside, "netns", ns]);
        await ip(["-n", ns, "addr", "add", `${s.host}/24`, "dev", inside]);
        await ip(["-n", ns, "link", "set", inside, "up"]);
        await ip(["-n", ns, "link", "set", "lo", "up"]);
      }
    } catch (err) {
      await pc.destroy();
      throw err;
    }
    return pc;
  }

  /** The running tracker handles, by number. */
  get trackers(): TrackerProcess[] {
    return [...this.cluster.trackers.values()];
  }

  /** Starts tracker `no` (in its namespace), or every tracker when `no` is omitted. */
  async start(no?: number): Promise<TrackerProcess[]> {
    const nos = no === undefined ? this.cluster.slots.map((s) => s.no) : [no];
    return Promise.all(
      nos.map((n) => {
        if (this.method === "freeze") return startTracker(this.cluster, n);
        return startTracker(this.cluster, n, { wrap: ["ip", "netns", "exec", this.#netns[n - 1]!] });
      }),
    );
  }

  /** SIGKILLs tracker `no` (a frozen one included). */
  async kill(no: number): Promise<void> {
    const t = this.cluster.trackers.get(no)!;
    await t.kill("SIGKILL");
    this.#frozen.delete(no);
  }

  /** Starts tracker `no` again on its data dir; a frozen side stays frozen, so it is frozen at once. */
  async restart(no: number): Promise<void> {
    const t = this.cluster.trackers.get(no)!;
    await t.restart();
    if (
      this.method === "freeze" &&
      this.sides.length > 0 &&
      !this.sides.some((s) => s.includes(no) && s === this.#largestSide())
    ) {
      t.proc.kill("SIGSTOP");
      this.#frozen.add(no);
    }
  }

  /** Whether tracker `no` answers its stdin (not frozen, running). */
  answers(no: number): boolean {
    return !this.#frozen.has(no) && (this.cluster.trackers.get(no)?.running ?? false);
  }

  /** Cuts every link between trackers on different `sides` (lists of tracker numbers); heals first. */
  async partition(sides: number[][]): Promise<void> {
    await this.heal();
    this.sides = sides.map((s) => [...s]);
    if (this.method === "freeze") {
      const keep = this.#largestSide();
      for (const side of this.sides) {
        if (side === keep) continue;
        for (const no of side) {
          const t = this.cluster.trackers.get(no);
          if (t?.running) {
            t.proc.kill("SIGSTOP");
            this.#frozen.add(no);
          }
        }
      }
      return;
    }
    for (const a of this.sides) {
      for (const b of this.sides) {
        if (a === b) continue;
        for (const x of a) for (const y of b) this.#cut.push([x, y]);
      }
    }
    await Promise.all(
      this.#cut.map(([x, y]) =>
        ip([
          "-n",
          this.#netns[x - 1]!,
          "neigh",
          "replace",
          this.cluster.slots[y - 1]!.host,
          "lladdr",
          NOWHERE_MAC,
          "dev",
          this.#ifaces[x - 1]!,
          "nud",
          "permanent",
        ]),
      ),
    );
  }

  /** Restores every cut link. */
  async heal(): Promise<void> {
    this.sides = [];
    for (const no of this.#frozen) this.cluster.trackers.get(no)?.proc.kill("SIGCONT");
    this.#frozen.clear();
    const cut = this.#cut.splice(0);
    await Promise.all(
      cut.map(([x, y]) =>
        ip([
          "-n",
          this.#netns[x - 1]!,
          "neigh",
          "del",
          this.cluster.slots[y - 1]!.host,
          "dev",
          this.#ifaces[x - 1]!,
        ]).catch(() => {}),
      ),
    );
  }

  /** Kills its trackers and deletes its namespaces and bridge (its temp dir goes with stopAll()). */
  async destroy(): Promise<void> {
    live.delete(this);
    for (const no of this.#frozen) this.cluster.trackers.get(no)?.proc.kill("SIGCONT");
    this.#frozen.clear();
    await Promise.all(this.trackers.map((t) => t.stop()));
    for (const ns of this.#netns.splice(0)) await ip(["netns", "del", ns]).catch(() => {});
    if (this.#bridge) await ip(["link", "del", this.#bridge]).catch(() => {});
    this.#bridge = undefined;
  }

  #largestSide(): number[] | undefined {
    return [...this.sides].sort((a, b) => b.length - a.length)[0];
  }
}

let clusterCount = 0;
const live = new Set<PartitionableCluster>();

/** Destroys every PartitionableCluster still alive (use with stopAll() in afterEach). */
export async function destroyPartitionable(): Promise<void> {
  await Promise.all([...live].map((c) => c.destroy()));
}
