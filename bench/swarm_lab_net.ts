// bench/swarm_lab_net.ts: a lab of network namespaces on one bridge for the swarm bench. Every
// host gets its own namespace and IP on a veth pair into the bridge, with `tc tbf` at the given
// rate on both ends (its uplink and its downlink); the root namespace holds the bridge's own IP,
// where the trackers run without a limit. Every name starts with `swl-<pid>` (interfaces:
// `swl<pid>...`), and `destroy()` removes all of them, also the leftovers of a dead bench.
import { existsSync, readFileSync } from "node:fs";
import type { LinkBytes } from "./link_timeline.ts";
import { runCommand } from "./proc.ts";

const PREFIX = "swl";

async function run(cmd: string[]): Promise<string> {
  const r = await runCommand(cmd, { timeoutMs: 30_000 });
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")} failed (${r.exitCode}): ${r.stderr.trim()}`);
  return r.stdout;
}

/** Why the lab cannot be built here, or undefined when it can. */
export async function labUnavailable(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return "the swarm lab needs root (network namespaces and tc)";
  for (const tool of ["ip", "tc"]) if (!Bun.which(tool)) return `the swarm lab needs ${tool} (iproute2)`;
  const probe = `${PREFIX}-probe-${process.pid}`;
  const made = await runCommand(["ip", "netns", "add", probe], { timeoutMs: 10_000 });
  if (made.exitCode !== 0) return `cannot make a network namespace: ${made.stderr.trim()}`;
  await runCommand(["ip", "netns", "del", probe], { timeoutMs: 10_000 });
  return undefined;
}

/** One host of the lab. */
export interface LabHost {
  ns: string;
  ip: string;
  /** argv prefix that runs a command inside the host's namespace. */
  exec: string[];
  /** Its link's end on the bridge, in the root namespace (its byte counters are the host's traffic). */
  port: string;
}

/** How the lab's links behave beyond their rates. */
export interface LabOptions {
  /** "key=value" kernel settings for every host's namespace. */
  sysctls?: readonly string[];
  /**
   * How long a packet may wait in each link's tbf queue before it is dropped (the switch port's
   * buffer: 50 ms is 625 KB at 100 Mbit/s).
   */
  queueMs?: number;
  /**
   * Every link's MTU. Jumbo frames by default: at 1,500 bytes the kernel's per-packet work for
   * the veths, the bridge and tbf (work a real lab's switch does in hardware) takes most of a
   * 2-core machine once 17 hosts move data at once (a ring of plain TCP copies at N = 16:
   * 70% of the CPU in softirq, 6.5-7.2 s), at 9,000 about 3% (5.75 s, the links' own rate).
   */
  mtu?: number;
}

export class SwarmLab {
  readonly hosts: LabHost[] = [];
  /** The bridge's address in the root namespace: the trackers listen here. */
  readonly rootIp: string;
  #id: string;
  #subnet: string;
  #bridge: string;
  #made: { ns: string[]; links: string[] } = { ns: [], links: [] };

  private constructor() {
    this.#id = `${process.pid}`;
    const third = process.pid % 250;
    this.#subnet = `10.213.${third}`;
    this.rootIp = `${this.#subnet}.1`;
    this.#bridge = `${PREFIX}${this.#id}br`;
  }

  /**
   * Builds the bridge and `rates.length` hosts, host i limited to `rates[i]` (tc syntax, e.g.
   * "100mbit").
   */
  static async build(rates: string[], options: LabOptions = {}): Promise<SwarmLab> {
    const { sysctls = [], queueMs = 50, mtu = 9000 } = options;
    await sweepLeftovers();
    const lab = new SwarmLab();
    try {
      await run(["ip", "link", "add", lab.#bridge, "mtu", `${mtu}`, "type", "bridge"]);
      lab.#made.links.push(lab.#bridge);
      await run(["ip", "addr", "add", `${lab.rootIp}/24`, "dev", lab.#bridge]);
      await run(["ip", "link", "set", lab.#bridge, "up"]);
      for (const [i, rate] of rates.entries()) {
        const host = await lab.#addHost(i, rate, queueMs, mtu);
        for (const kv of sysctls) await run([...host.exec, "sysctl", "-q", "-w", kv]);
        lab.hosts.push(host);
      }
    } catch (err) {
      await lab.destroy();
      throw err;
    }
    return lab;
  }

  async #addHost(i: number, rate: string, queueMs: number, mtu: number): Promise<LabHost> {
    const ns = `${PREFIX}-${this.#id}-h${i}`;
    const inner = `${PREFIX}${this.#id}h${i}`;
    const outer = `${PREFIX}${this.#id}p${i}`;
    const ip = `${this.#subnet}.${10 + i}`;
    await run(["ip", "netns", "add", ns]);
    this.#made.ns.push(ns);
    await run([
      "ip",
      "link",
      "add",
      inner,
      "mtu",
      `${mtu}`,
      "type",
      "veth",
      "peer",
      "name",
      outer,
      "mtu",
      `${mtu}`,
    ]);
    this.#made.links.push(outer);
    await run(["ip", "link", "set", inner, "netns", ns]);
    await run(["ip", "link", "set", outer, "master", this.#bridge]);
    await run(["ip", "link", "set", outer, "up"]);
    const exec = ["ip", "netns", "exec", ns];
    await run([...exec, "ip", "addr", "add", `${ip}/24`, "dev", inner]);
    await run([...exec, "ip", "link", "set", inner, "up"]);
    await run([...exec, "ip", "link", "set", "lo", "up"]);
    // Uplink: the host's egress; downlink: the bridge port's egress towards the host.
    const tbf = ["root", "tbf", "rate", rate, "burst", "64kb", "latency", `${queueMs}ms`];
    await run([...exec, "tc", "qdisc", "add", "dev", inner, ...tbf]);
    await run(["tc", "qdisc", "add", "dev", outer, ...tbf]);
    return { ns, ip, exec, port: outer };
  }

  /** Bytes each host has sent and received so far: its bridge port's counters, seen from the bridge. */
  linkBytes(): LinkBytes {
    const count = (port: string, what: string) =>
      Number(readFileSync(`/sys/class/net/${port}/statistics/${what}`, "utf8"));
    return {
      sent: this.hosts.map((h) => count(h.port, "rx_bytes")),
      received: this.hosts.map((h) => count(h.port, "tx_bytes")),
    };
  }

  /** Removes every namespace and link this lab made. */
  async destroy(): Promise<void> {
    for (const ns of this.#made.ns.splice(0))
      await runCommand(["ip", "netns", "del", ns], { timeoutMs: 10_000 });
    for (const link of this.#made.links.splice(0))
      await runCommand(["ip", "link", "del", link], { timeoutMs: 10_000 });
  }
}

/** Removes namespaces and links of swarm labs whose bench process is gone. */
async function sweepLeftovers(): Promise<void> {
  const alive = (pid: string) => existsSync(`/proc/${pid}`);
  const nsList = (await runCommand(["ip", "netns", "list"], { timeoutMs: 10_000 })).stdout;
  for (const line of nsList.split("\n")) {
    const m = line.match(/^(swl-(\d+)-h\d+)/);
    if (m?.[1] && m[2] && !alive(m[2])) await runCommand(["ip", "netns", "del", m[1]], { timeoutMs: 10_000 });
  }
  const links = (await runCommand(["ip", "-o", "link", "show"], { timeoutMs: 10_000 })).stdout;
  for (const line of links.split("\n")) {
    const m = line.match(/^\d+: (swl(\d+)(?:br|p\d+))[@:]/);
    if (m?.[1] && m[2] && !alive(m[2])) await runCommand(["ip", "link", "del", m[1]], { timeoutMs: 10_000 });
  }
}
