// bench/swarm_lab.ts: `npm run bench -- swarm [--peers=4,8,16] [--mixed] [--size-mb=64]`: a flash
// crowd on rate-limited links (bench/swarm_lab_net.ts: one namespace per host, tbf on both ends
// of its link). Host 0 shares a random file; N hosts ask for it at the same moment and keep
// serving what they have. Ours (./tracker + ./client) and aria2c + opentracker run on the same
// file and links in one invocation. Prints per N: ours, aria2c, the Kumar-Ross bound, both
// ratios, the spread between the first and the last peer to finish, and the time N+1 plain TCP
// copies take on the same links at once (what the machine can move), and how busy the links
// were during each run (bench/link_timeline.ts); JSON to bench/results/.
// Needs root and iproute2; installs aria2/opentracker/mktorrent when missing. --ours-only skips
// aria2c; SWARM_BIN_DIR=<dir> runs the ./tracker and ./client found there instead of ours;
// --sysctl=KEY=VALUE (repeatable) sets a kernel setting in every host's namespace; --queue-ms=N
// sets how long a packet may wait in a link's queue (default 50); --mtu=N every link's MTU
// (default 9000: see LabOptions.mtu; --mtu=1500 is the lab of 2026-12-02 and before).
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import type { Subprocess } from "bun";
import { infoHashHex } from "./bencode.ts";
import {
  describeLinks,
  type LinkSampler,
  type LinkTimeline,
  sampleLinks,
  summarise,
  type TimelineSummary,
} from "./link_timeline.ts";
import { makeRandomFile } from "./machine.ts";
import { cpuSeconds, machineCpu, runOk, spawnChild, stopChildren } from "./proc.ts";
import { ARIA2_COMMON, startOpentracker } from "./reference.ts";
import { type LabHost, labUnavailable, SwarmLab } from "./swarm_lab_net.ts";
import { labVerdicts, verdictLines } from "./swarm_targets.ts";
import { ensureTools } from "./tools.ts";

/** Where ./tracker and ./client are: the repository, or SWARM_BIN_DIR (say, an older build to compare). */
const BIN_DIR = process.env.SWARM_BIN_DIR ?? join(import.meta.dir, "..");
const TRACKER_BIN = join(BIN_DIR, "tracker");
const CLIENT_BIN = join(BIN_DIR, "client");
const RATE_BITS = 100e6;
const TCP_COPY_SCRIPT = join(import.meta.dir, "tcp_copy.ts");
const RUN_TIMEOUT_MS = 300_000;
const RAM_DIR = "/dev/shm";
const GROUP = "lab";
const PASSWORD = "lab-pw";

const log = (line: string) => console.error(`[swarm ${new Date().toISOString().slice(11, 19)}] ${line}`);

/** Lines of a child's stream, with waiting for one that matches. */
class Lines {
  lines: string[] = [];
  #partial = "";
  #wake: (() => void)[] = [];
  constructor(stream: ReadableStream<Uint8Array>) {
    void (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of stream) {
        const text = this.#partial + decoder.decode(chunk, { stream: true });
        const parts = text.split("\n");
        this.#partial = parts.pop() ?? "";
        this.lines.push(...parts);
        for (const w of this.#wake.splice(0)) w();
      }
      for (const w of this.#wake.splice(0)) w();
    })();
  }
  /** Waits for a line at or after `from` matching `test`; returns its index. */
  async wait(test: (l: string) => boolean, from: number, timeoutMs: number, what: string): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (let i = from; i < this.lines.length; i++) if (test(this.lines[i] ?? "")) return i;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        this.#wake.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  }
}

/** One ./client inside a lab host, driven over stdin. */
class LabClient {
  readonly proc: Subprocess<"pipe", "pipe", "pipe">;
  readonly out: Lines;
  readonly err: Lines;
  #n = 0;
  constructor(host: LabHost, infoPath: string, dataDir: string) {
    this.proc = Bun.spawn([...host.exec, CLIENT_BIN, `${host.ip}:7000`, infoPath, "--data-dir", dataDir], {
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
    });
    this.out = new Lines(this.proc.stdout);
    this.err = new Lines(this.proc.stderr);
  }
  /** Runs one command; throws on an `error:` line. The unknown command after it marks its end. */
  async ok(line: string, timeoutMs = 60_000): Promise<void> {
    const mark = `__end_${++this.#n}__`;
    const from = this.err.lines.length;
    this.proc.stdin.write(`${line}\n${mark}\n`);
    this.proc.stdin.flush();
    const end = await this.err.wait((l) => l.includes(mark), from, timeoutMs, `"${line}" to finish`);
    const errors = this.err.lines.slice(from, end).filter((l) => l.startsWith("error"));
    if (errors.length > 0) throw new Error(`"${line}" failed: ${errors.join(" | ")}`);
  }
  send(line: string): void {
    this.proc.stdin.write(`${line}\n`);
    this.proc.stdin.flush();
  }
  kill(): void {
    this.proc.kill("SIGKILL");
  }
}

interface Finish {
  /** Seconds from the common start to each peer's completion, in host order. */
  seconds: number[];
  /** How busy the links were from the start to the last completion. */
  timeline?: LinkTimeline;
  /** CPU over the same time: the tool's processes, and the machine's share left idle. */
  cpu?: RunCpu;
}

interface RunCpu {
  /** CPU seconds of the tool's processes (trackers included). */
  processS: number;
  /** The machine's idle share (all cores). */
  idle: number;
}

/** Call at the start; the returned function, called at the end, measures the run's CPU. */
function watchCpu(pids: () => number[]): () => RunCpu {
  const used = () => pids().reduce((sum, pid) => sum + (cpuSeconds(pid) || 0), 0);
  const before = used();
  const machine = machineCpu();
  return () => {
    const now = machineCpu();
    const total = now.totalS - machine.totalS;
    return { processS: used() - before, idle: total > 0 ? (now.idleS - machine.idleS) / total : 0 };
  };
}

/** One case of the lab, as ours and aria2c both run it. */
interface LabRun {
  lab: SwarmLab;
  file: string;
  /** Downloaders: hosts 1..peers (host 0 is the source). */
  peers: number;
  /** Each host's link rate in bytes per second (one TCP stream's goodput at its rate). */
  capacity: number[];
}

/** Samples the run's links from now until `stop()` (call it in a finally: the lab goes away). */
function sampleRun(run: LabRun): LinkSampler {
  return sampleLinks(() => run.lab.linkBytes(), run.capacity, run.peers);
}

/** How busy the links were during `f`, up to its first finish, and every sample. */
function linksOf(f: Finish): { summary: TimelineSummary; timeline: LinkTimeline } | undefined {
  return f.timeline && { summary: summarise(f.timeline, Math.min(...f.seconds)), timeline: f.timeline };
}

/** One line on how busy the links were, up to the first finish, and the run's CPU. */
function whereTimeWent(f: Finish): string {
  const links = linksOf(f);
  const cpu = f.cpu
    ? `; CPU ${f.cpu.processS.toFixed(1)} s in the tool's processes, the machine ${Math.round(f.cpu.idle * 100)}% idle`
    : "";
  return `${links ? describeLinks(links.summary) : "no link timeline"}${cpu}`;
}

/** Ours: a tracker on the bridge, the source on host 0, `peers` downloaders on hosts 1..N. */
async function runOurs(run: LabRun, dir: string): Promise<Finish> {
  const { lab, file, peers } = run;
  mkdirSync(dir, { recursive: true });
  const port = 7100 + (process.pid % 500);
  const infoPath = join(dir, "tracker_info.txt");
  writeFileSync(infoPath, `${lab.rootIp} ${port}\n`);
  const tracker = Bun.spawn([TRACKER_BIN, infoPath, "1", "--data-dir", join(dir, "tracker.data")], {
    stdin: "pipe",
    stdout: "pipe",
    stderr: "pipe",
  });
  const clients: LabClient[] = [];
  let links: LinkSampler | undefined;
  try {
    await new Lines(tracker.stdout).wait((l) => l.includes("listening"), 0, 10_000, "our tracker to listen");
    const hosts = lab.hosts.slice(0, peers + 1);
    for (const [i, host] of hosts.entries())
      clients.push(new LabClient(host, infoPath, join(dir, `client-${i}`)));
    const source = clients[0];
    if (!source) throw new Error("no source host");
    await source.ok(`create_user u0 ${PASSWORD}`);
    await source.ok(`login u0 ${PASSWORD}`);
    await source.ok(`create_group ${GROUP}`);
    await source.ok(`upload_file ${file} ${GROUP}`);
    await Promise.all(
      clients.slice(1).map(async (c, k) => {
        await c.ok(`create_user u${k + 1} ${PASSWORD}`);
        await c.ok(`login u${k + 1} ${PASSWORD}`);
        await c.ok(`join_group ${GROUP}`);
      }),
    );
    for (let k = 1; k <= peers; k++) await source.ok(`accept_request ${GROUP} u${k}`);
    const name = basename(file);
    const started = performance.now();
    const cpu = watchCpu(() => [tracker.pid, ...clients.map((c) => c.proc.pid)]);
    links = sampleRun(run);
    const outDirs = clients.map((_, i) => join(dir, `out-${i}`));
    for (const d of outDirs) mkdirSync(d, { recursive: true });
    for (const [k, c] of clients.slice(1).entries())
      c.send(`download_file ${GROUP} ${name} ${outDirs[k + 1]}`);
    // Done when the file appears at its destination (only ever complete and verified there):
    // watched from here, as aria2c's finish is, so that the clients' CPU is not spent answering
    // a poll; `show_downloads` is asked once a second for a download that gave up.
    const seconds = await Promise.all(
      clients.slice(1).map(async (c, k) => {
        const deadline = Date.now() + RUN_TIMEOUT_MS;
        const dest = join(outDirs[k + 1] ?? "", name);
        for (let tick = 1; ; tick++) {
          if (existsSync(dest)) return (performance.now() - started) / 1000;
          if (tick % 50 === 0) {
            const failed = c.out.lines.find((l) => l.startsWith(`[F] [${GROUP}] ${name}`));
            if (failed) throw new Error(`our download failed: ${failed}`);
            c.send("show_downloads");
          }
          if (Date.now() > deadline) throw new Error("our download did not finish in time");
          await Bun.sleep(20);
        }
      }),
    );
    const timeline = links.stop();
    const used = cpu();
    for (const c of clients.slice(1)) {
      c.send("show_downloads");
      await c.out.wait((l) => l.startsWith(`[C] [${GROUP}] ${name}`), 0, 10_000, "show_downloads to say [C]");
    }
    for (const d of outDirs.slice(1)) await runOk(["cmp", "-s", file, join(d, name)], { timeoutMs: 60_000 });
    return { seconds, timeline, cpu: used };
  } finally {
    links?.stop();
    for (const c of clients) c.kill();
    tracker.kill("SIGKILL");
    await Promise.all([...clients.map((c) => c.proc.exited), tracker.exited]);
  }
}

/** aria2c: opentracker on the bridge, an aria2c seeder on host 0, N aria2c leechers that keep seeding. */
async function runAria2(run: LabRun, dir: string): Promise<Finish> {
  const { lab, file, peers } = run;
  mkdirSync(dir, { recursive: true });
  const port = 7600 + (process.pid % 500);
  const torrent = join(dir, "lab.torrent");
  await runOk(["mktorrent", "-l", "19", "-a", `http://${lab.rootIp}:${port}/announce`, "-o", torrent, file], {
    timeoutMs: 60_000,
  });
  const tracker = await startOpentracker(
    join(dir, "opentracker"),
    port,
    infoHashHex(readFileSync(torrent)),
    lab.rootIp,
  );
  const children = [tracker];
  let links: LinkSampler | undefined;
  try {
    const [host0, ...rest] = lab.hosts;
    if (!host0) throw new Error("no source host");
    const seedDir = join(dir, "aria-seed");
    mkdirSync(seedDir, { recursive: true });
    await runOk(["cp", file, join(seedDir, basename(file))], { timeoutMs: 60_000 });
    children.push(
      spawnChild(
        [
          ...host0.exec,
          "aria2c",
          ...ARIA2_COMMON,
          "--dir",
          seedDir,
          "--seed-ratio=0.0",
          "--bt-seed-unverified=true",
          "--listen-port=6881",
          torrent,
        ],
        { timeoutMs: RUN_TIMEOUT_MS },
      ),
    );
    await Bun.sleep(1_500); // the seeder's first announce
    const stamps = rest.slice(0, peers).map((_, k) => join(dir, `aria-done-${k}.stamp`));
    const started = Date.now();
    const cpu = watchCpu(() => children.map((c) => c.proc.pid));
    links = sampleRun(run);
    for (const [k, host] of rest.slice(0, peers).entries()) {
      const out = join(dir, `aria-out-${k}`);
      mkdirSync(out, { recursive: true });
      const hook = join(dir, `aria-hook-${k}.sh`);
      writeFileSync(hook, `#!/bin/sh\ndate +%s%N > '${stamps[k]}'\n`, { mode: 0o755 });
      children.push(
        spawnChild(
          [
            ...host.exec,
            "aria2c",
            ...ARIA2_COMMON,
            "--dir",
            out,
            "--seed-ratio=0.0",
            "--listen-port=6881",
            `--on-bt-download-complete=${hook}`,
            torrent,
          ],
          { timeoutMs: RUN_TIMEOUT_MS },
        ),
      );
    }
    const deadline = started + RUN_TIMEOUT_MS;
    const seconds: number[] = [];
    for (const stamp of stamps) {
      for (;;) {
        const text = (() => {
          try {
            return readFileSync(stamp, "utf8").trim();
          } catch {
            return "";
          }
        })();
        if (text) {
          seconds.push((Number(BigInt(text) / 1_000_000n) - started) / 1000);
          break;
        }
        if (Date.now() > deadline) throw new Error("aria2c did not finish in time");
        await Bun.sleep(50);
      }
    }
    return { seconds, timeline: links.stop(), cpu: cpu() };
  } finally {
    links?.stop();
    await Promise.all(children.map((c) => c.stop()));
  }
}

/**
 * Plain TCP copies of `file` (bench/tcp_copy.ts), all at once: `pairs[k]` = [sender, receiver]
 * host indexes. Returns each copy's seconds from its receiver's accept to the sender's close.
 */
async function timeTcpCopies(
  lab: SwarmLab,
  file: string,
  sizeBytes: number,
  pairs: readonly (readonly [number, number])[],
): Promise<number[]> {
  const host = (i: number) => {
    const h = lab.hosts[i];
    if (!h) throw new Error(`the lab has no host ${i}`);
    return h;
  };
  const sinks: { proc: Subprocess<"ignore", "pipe", "inherit">; lines: Lines; port: string; at: number }[] =
    [];
  const sources: Subprocess[] = [];
  try {
    for (const [, to] of pairs) {
      const env = { ...process.env, TCP_COPY_HOST: host(to).ip };
      const proc = Bun.spawn([...host(to).exec, process.execPath, TCP_COPY_SCRIPT, "sink"], {
        env,
        stdout: "pipe",
      });
      const lines = new Lines(proc.stdout);
      const at = await lines.wait((l) => l.startsWith("port "), 0, 10_000, "a TCP sink to listen");
      sinks.push({ proc, lines, port: lines.lines[at]?.split(" ")[1] ?? "", at });
    }
    for (const [k, [from, to]] of pairs.entries()) {
      const env = { ...process.env, TCP_COPY_HOST: host(to).ip };
      sources.push(
        Bun.spawn(
          [...host(from).exec, process.execPath, TCP_COPY_SCRIPT, "source", file, sinks[k]?.port ?? ""],
          {
            env,
          },
        ),
      );
    }
    const seconds: number[] = [];
    for (const sink of sinks) {
      const done = await sink.lines.wait((l) => l.startsWith("done "), sink.at, RUN_TIMEOUT_MS, "a TCP copy");
      const [, bytes, ms] = (sink.lines.lines[done] ?? "").split(" ");
      if (Number(bytes) !== sizeBytes) throw new Error(`a TCP sink got ${bytes} bytes of ${sizeBytes}`);
      seconds.push(Number(ms) / 1000);
    }
    return seconds;
  } finally {
    for (const p of [...sources, ...sinks.map((s) => s.proc)]) p.kill("SIGKILL");
    await Promise.all([...sources, ...sinks.map((s) => s.proc)].map((p) => p.exited));
  }
}

/** Bytes per second one TCP stream carries from host 0 to host 1 of the lab. */
async function measureGoodput(lab: SwarmLab, file: string, sizeBytes: number): Promise<number> {
  const [seconds = Number.NaN] = await timeTcpCopies(lab, file, sizeBytes, [[0, 1]]);
  return sizeBytes / seconds;
}

/**
 * What this machine can move through the lab at once, whatever the tool: every host sends the
 * file to the next over plain TCP, all N+1 copies together (each host uploads and downloads F,
 * as in a perfect swarm). The slowest copy's seconds: on an idle network F/G; above it, the
 * machine's CPU (the kernel moving packets through the veths, the bridge and tbf) is the limit.
 */
async function timeRing(lab: SwarmLab, file: string, sizeBytes: number, hosts: number): Promise<number> {
  const pairs = Array.from({ length: hosts }, (_, i) => [i, (i + 1) % hosts] as const);
  return Math.max(...(await timeTcpCopies(lab, file, sizeBytes, pairs)));
}

/** Runs the lab bench; returns the exit code. */
export async function runSwarmLab(args: string[]): Promise<number> {
  const peersArg = args.find((a) => a.startsWith("--peers="))?.slice(8) ?? "4,8,16";
  const sizeMb = Number(args.find((a) => a.startsWith("--size-mb="))?.slice(10) ?? "64");
  const mixed = !args.includes("--no-mixed");
  const peerCounts = peersArg.split(",").map(Number);
  const oursOnly = args.includes("--ours-only");
  const queueMs = Number(args.find((a) => a.startsWith("--queue-ms="))?.slice("--queue-ms=".length) ?? "50");
  const mtu = Number(args.find((a) => a.startsWith("--mtu="))?.slice("--mtu=".length) ?? "9000");
  // Kernel settings inside every host (say net.ipv4.tcp_notsent_lowat=131072): what-ifs about
  // the hosts' TCP, not the product's defaults.
  const sysctls = args.filter((a) => a.startsWith("--sysctl=")).map((a) => a.slice("--sysctl=".length));
  const unknown = args.filter(
    (a) =>
      !/^--(peers|size-mb|queue-ms|mtu)=/.test(a) &&
      a !== "--no-mixed" &&
      a !== "--ours-only" &&
      !/^--sysctl=[\w.]+=\S+$/.test(a),
  );
  if (
    unknown.length > 0 ||
    peerCounts.some((n) => !Number.isInteger(n) || n < 1 || n > 32) ||
    !(sizeMb >= 1) ||
    !(Number.isInteger(queueMs) && queueMs >= 1 && queueMs <= 1000) ||
    !(Number.isInteger(mtu) && mtu >= 1280 && mtu <= 65535)
  ) {
    console.error(
      "error: usage: npm run bench -- swarm [--peers=4,8,16 (1..32)] [--size-mb=64] [--no-mixed] [--ours-only] [--queue-ms=1..1000] [--mtu=1280..65535] [--sysctl=KEY=VALUE ...]",
    );
    return 2;
  }
  const why = await labUnavailable();
  if (why) {
    console.error(`error: ${why}`);
    return 2;
  }
  if (!oursOnly) await ensureTools(log);
  const maxN = Math.max(...peerCounts);
  // Host i's link: 100 Mbit/s; in the mixed case every other downloader gets 20 Mbit/s.
  const cases: { name: string; peers: number; equal: boolean; rates: string[] }[] = peerCounts.map((n) => ({
    name: `${n} peers, 100 Mbit/s`,
    peers: n,
    equal: true,
    rates: Array.from({ length: n + 1 }, () => "100mbit"),
  }));
  if (mixed) {
    const n = Math.min(8, maxN);
    cases.push({
      name: `${n} peers, mixed: half at 20 Mbit/s`,
      peers: n,
      equal: false,
      rates: Array.from({ length: n + 1 }, (_, i) => (i > 0 && i % 2 === 0 ? "20mbit" : "100mbit")),
    });
  }
  // Every peer's files in memory where the machine has a tmpfs: a lab machine writes its own
  // copy on its own disk, but here 17 share one, and this VM's ext4 costs 2.3 s of CPU per GiB
  // written (tmpfs 0.3 s), which at N = 16 is a fifth of the two cores.
  const dir = join(existsSync(RAM_DIR) ? RAM_DIR : "/tmp", `swl-${process.pid}`);
  let lab: SwarmLab | undefined;
  const cleanup = async () => {
    await stopChildren();
    await lab?.destroy();
    rmSync(dir, { recursive: true, force: true });
  };
  const onSignal = (signal: string) => {
    log(`${signal}: removing the lab`);
    void cleanup().then(() => process.exit(130));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const rows: Record<string, unknown>[] = [];
  const linkLines: string[] = [];
  let goodput: number | undefined;
  try {
    mkdirSync(dir, { recursive: true });
    const sizeBytes = sizeMb * 2 ** 20;
    const file = join(dir, `lab-${sizeMb}MiB.bin`);
    await makeRandomFile(file, sizeBytes, 120_000);
    for (const c of cases) {
      log(`building the lab for ${c.name}`);
      lab = await SwarmLab.build(c.rates, { sysctls, queueMs, mtu });
      const bits = c.rates.map((r) => (r === "20mbit" ? 20e6 : RATE_BITS));
      goodput ??= await measureGoodput(lab, file, sizeBytes);
      log(`one TCP stream through one 100 Mbit/s link: ${(goodput / 1e6).toFixed(2)} MB/s`);
      const share = goodput / (RATE_BITS / 8);
      const g = (b: number) => (b / 8) * share;
      const us = g(bits[0] ?? RATE_BITS);
      const down = bits.slice(1).map(g);
      const boundS = Math.max(
        sizeBytes / us,
        sizeBytes / Math.min(...down),
        (c.peers * sizeBytes) / (us + down.reduce((a, b) => a + b, 0)),
      );
      const ringS = await timeRing(lab, file, sizeBytes, c.peers + 1);
      log(`${c.peers + 1} plain TCP copies at once, host i to host i+1: slowest ${ringS.toFixed(2)} s`);
      const run: LabRun = { lab, file, peers: c.peers, capacity: bits.map(g) };
      // Each run's files go once it is over: 17 copies of the file in memory per run.
      const runDir = (tool: string) => join(dir, `${tool}-${rows.length}`);
      const ours = await runOurs(run, runDir("ours"));
      rmSync(runDir("ours"), { recursive: true, force: true });
      const oursLinks = linksOf(ours);
      log(`ours: last ${Math.max(...ours.seconds).toFixed(2)} s; ${whereTimeWent(ours)}`);
      const aria: Finish = oursOnly ? { seconds: [Number.NaN] } : await runAria2(run, runDir("aria"));
      rmSync(runDir("aria"), { recursive: true, force: true });
      const ariaLinks = linksOf(aria);
      if (!oursOnly) log(`aria2c: last ${Math.max(...aria.seconds).toFixed(2)} s; ${whereTimeWent(aria)}`);
      await lab.destroy();
      lab = undefined;
      const last = (f: Finish) => Math.max(...f.seconds);
      const spread = (f: Finish) => Math.max(...f.seconds) - Math.min(...f.seconds);
      rows.push({
        case: c.name,
        peers: c.peers,
        equalLinks: c.equal,
        boundS,
        ringS,
        oursS: last(ours),
        oursSpreadS: spread(ours),
        aria2cS: last(aria),
        aria2cSpreadS: spread(aria),
        oursOverBound: last(ours) / boundS,
        oursOverAria2c: last(ours) / last(aria),
        oursOverRing: last(ours) / ringS,
        oursAll: ours.seconds,
        aria2cAll: aria.seconds,
        oursLinks,
        aria2cLinks: ariaLinks,
        oursCpu: ours.cpu,
        aria2cCpu: aria.cpu,
      });
      linkLines.push(`- ${c.name}, ours: ${whereTimeWent(ours)}`);
      if (!oursOnly) linkLines.push(`- ${c.name}, aria2c: ${whereTimeWent(aria)}`);
    }
  } finally {
    await cleanup();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
  const f = (x: unknown) => (typeof x === "number" ? x.toFixed(2) : String(x));
  console.log(
    `swarm lab: ${sizeMb} MiB, namespaces on one bridge, tbf on both ends of every host's link; one TCP stream carries G = ${((goodput ?? 0) / 1e6).toFixed(2)} MB/s per 100 Mbit/s link; bound T_min = max(F/u_s, F/d_min, N F/(u_s + sum u_i)) with every rate scaled by G`,
  );
  if (sysctls.length > 0) console.log(`every host's kernel: ${sysctls.join(", ")}`);
  console.log(`every link's queue: ${queueMs} ms (tbf latency); MTU ${mtu}; every peer's files under ${dir}`);
  console.log(
    "ring: N+1 plain TCP copies of the file at once (host i to host i+1), the slowest: what this machine moves through the lab whatever the tool",
  );
  console.log(
    "| case | ours s (spread) | aria2c s (spread) | bound s | ring s | ours/bound | ours/aria2c | ours/ring |",
  );
  console.log("|---|---|---|---|---|---|---|---|");
  for (const r of rows)
    console.log(
      `| ${r.case} | ${f(r.oursS)} (${f(r.oursSpreadS)}) | ${f(r.aria2cS)} (${f(r.aria2cSpreadS)}) | ${f(r.boundS)} | ${f(r.ringS)} | ${f(r.oursOverBound)} | ${f(r.oursOverAria2c)} | ${f(r.oursOverRing)} |`,
    );
  console.log(
    "links, sampled every 0.1 s from each host's bridge port, as a share of G (the downloaders' mean):",
  );
  for (const line of linkLines) console.log(line);
  const targets = labVerdicts(
    rows.map((r) => ({
      peers: r.peers as number,
      equal: r.equalLinks === true,
      oursS: r.oursS as number,
      oursOverAria2c: r.oursOverAria2c as number,
      oursOverBound: r.oursOverBound as number,
    })),
  );
  console.log(`targets (set for 64 MiB at 100 Mbit/s; this run: ${sizeMb} MiB, each case once):`);
  for (const line of verdictLines(targets)) console.log(line);
  const resultsDir = join(import.meta.dir, "results");
  mkdirSync(resultsDir, { recursive: true });
  const out = join(resultsDir, `${new Date().toISOString().replace(/[:.]/g, "-")}-swarm-lab.json`);
  writeFileSync(
    out,
    `${JSON.stringify({ sizeMb, goodputBytesPerSecond: goodput, sysctls, queueMs, mtu, rows, targets }, null, 2)}\n`,
  );
  console.log(`written to ${out}`);
  return 0;
}
