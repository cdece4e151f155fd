// Spawns the compiled ./tracker and ./client on 127.0.0.1 with free ports and a temp dir, and
// drives them through stdin. Test helper (e2e tests, demo script): never a spec file.
//
//   const cluster = await makeCluster({ trackers: 2 });
//   const [t1, t2] = await startTrackers(cluster);
//   const alice = await startClient(cluster);                 // tries tracker 1, then 2
//   const bob = await startClient(cluster, { order: [2, 1] }); // tries tracker 2 first
//   expect(await alice.run("create_user alice pw")).toEqual({ out: ["user alice created"], err: [], log: [] });
//   await t1.kill("SIGKILL");
//   await t1.restart();                                       // same data dir
//   await settle(cluster);                                    // every tracker holds the same state
//   const relay = startRelay(cluster.slots[0]!);              // a client -> tracker 1 link a test can break
//   afterEach(stopAll); // kills every process started here and removes every temp dir

import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Socket, Subprocess, TCPSocketListener } from "bun";
import { COMMANDS, usage } from "../../lib/client/commands.ts";

/** The repository root, where `npm run build` leaves ./tracker and ./client. */
export const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));
/** Where the binaries are: the repository root, or P2P_BIN_DIR (a benchmark comparing two builds). */
const BIN_DIR = process.env.P2P_BIN_DIR ?? REPO_ROOT;
export const TRACKER_BIN = join(BIN_DIR, "tracker");
export const CLIENT_BIN = join(BIN_DIR, "client");

const HOST = "127.0.0.1";
/** How long a tracker may take to print its `listening` line. */
const START_TIMEOUT_MS = 10_000;
/** How long a process may take to exit after `quit` or a signal before it is killed. */
const EXIT_TIMEOUT_MS = 5_000;
/** Longer than the client's own request timeout (20 s), so a failing command reports itself. */
const RUN_TIMEOUT_MS = 30_000;
/** A client log record (lib/cli/log.ts), as opposed to command output. */
const LOG_LINE = /^\d{4}-\d\d-\d\dT[\d:.]+Z (info|warn) /;
/** What `help whoami` prints: the stdout sentinel that closes each command's output. */
const STDOUT_SENTINEL = `${usage("whoami")}: ${COMMANDS.whoami.help}`;

// ---------------------------------------------------------------------------------------------
// Ports, temp dirs, waiting

/** A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then released). */
export function freePort(): number {
  const listener = Bun.listen({ hostname: HOST, port: 0, socket: { data() {} } });
  const port = listener.port;
  listener.stop(true);
  return port;
}

/** Polls `probe` until it returns a value other than undefined/false; throws after `timeoutMs`. */
export async function waitUntil<T>(
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  options: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<T> {
  const { timeoutMs = 10_000, intervalMs = 50, what = "condition" } = options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(intervalMs);
  }
}

/** Resolves with `promise`, or rejects after `timeoutMs` with `message`. */
function withTimeout<T>(promise: Promise<T>, timeoutMs: number, message: () => string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message())), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// ---------------------------------------------------------------------------------------------
// Line streams

/** The lines of a process's stdout or stderr, as they arrive, with a read cursor. */
export class LineStream {
  /** Every complete line so far (without its newline). */
  readonly lines: string[] = [];
  /** Index of the first line not yet consumed by `next()`. */
  cursor = 0;
  #partial = "";
  #ended = false;
  #wake: (() => void)[] = [];
  /** Resolves when the stream ends (the process closed it or exited). */
  readonly done: Promise<void>;

  constructor(stream: ReadableStream<Uint8Array>) {
    this.done = this.#pump(stream);
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** Everything received so far, as one string (a trailing partial line included). */
  text(): string {
    return this.lines.map((l) => `${l}\n`).join("") + this.#partial;
  }

  /**
   * Consumes lines from the cursor up to and including the first one `match` accepts, and
   * returns them; if the stream ends first, returns what is left with `found: false`.
   */
  async next(
    match: (line: string) => boolean,
    timeoutMs: number,
  ): Promise<{ lines: string[]; found: boolean }> {
    const deadline = Date.now() + timeoutMs;
    let scanned = this.cursor;
    for (;;) {
      for (; scanned < this.lines.length; scanned++) {
        if (match(this.lines[scanned]!)) {
          const lines = this.lines.slice(this.cursor, scanned + 1);
          this.cursor = scanned + 1;
          return { lines, found: true };
        }
      }
      if (this.#ended) {
        const lines = this.lines.slice(this.cursor);
        this.cursor = this.lines.length;
        return { lines, found: false };
      }
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(
          `no matching line within ${timeoutMs} ms; unread: ${JSON.stringify(this.lines.slice(this.cursor))}`,
        );
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  async #pump(stream: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    try {
      for await (const chunk of stream) {
        this.#partial += decoder.decode(chunk, { stream: true });
        const parts = this.#partial.split("\n");
        this.#partial = parts.pop()!;
        if (parts.length > 0) {
          this.lines.push(...parts.map((l) => l.replace(/\r$/, "")));
          this.#notify();
        }
      }
    } catch {
      // the process was killed mid-read: whatever arrived is kept
    }
    if (this.#partial !== "") this.lines.push(this.#partial);
    this.#partial = "";
    this.#ended = true;
    this.#notify();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = [];
    for (const w of wake) w();
  }
}

// ---------------------------------------------------------------------------------------------
// Cluster: a temp dir with tracker_info.txt

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

const processes = new Set<{ stop(): Promise<void> }>();
const tempDirs: string[] = [];
let clientInfoCount = 0;

/** A fresh temp dir under os.tmpdir(), removed by stopAll(). */
export async function makeTempDir(prefix = "p2p-e2e-"): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
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

/** Kills every tracker and client started by this module, then removes every temp dir. */
export async function stopAll(): Promise<void> {
  await Promise.all([...processes].map((p) => p.stop()));
  processes.clear();
  await Promise.all(tempDirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
}

// ---------------------------------------------------------------------------------------------
// Running a binary to completion

/** What a process that ran to its end printed, and its exit code. */
export interface Finished {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs `binary` with `args` (feeding `stdin`, then EOF) until it exits; kills it after `timeoutMs`. */
export async function runToExit(
  binary: "tracker" | "client",
  args: string[],
  options: { stdin?: string; cwd?: string; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<Finished> {
  const proc = Bun.spawn([binary === "tracker" ? TRACKER_BIN : CLIENT_BIN, ...args], {
    cwd: options.cwd ?? tmpdir(),
    env: childEnv(options.env),
    stdin: "pipe",
    stdout: "pipe",
    stderr: "pipe",
  });
  const handle = { stop: async () => void proc.kill("SIGKILL") };
  processes.add(handle);
  if (options.stdin) proc.stdin.write(options.stdin);
  await proc.stdin.end();
  const stdout = new Response(proc.stdout).text();
  const stderr = new Response(proc.stderr).text();
  const timeoutMs = options.timeoutMs ?? 15_000;
  try {
    const exitCode = await withTimeout(
      proc.exited,
      timeoutMs,
      () => `${binary} ${args.join(" ")} did not exit within ${timeoutMs} ms`,
    );
    return { exitCode, stdout: await stdout, stderr: await stderr };
  } finally {
    proc.kill("SIGKILL");
    processes.delete(handle);
  }
}

/** The parent's environment without a sync secret, plus `extra`. */
function childEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && k !== "TRACKER_SECRET") env[k] = v;
  return { ...env, ...extra };
}

// ---------------------------------------------------------------------------------------------
// Trackers

/** Options of one tracker start; `restart()` reuses them unless given new ones. */
export interface TrackerStartOptions {
  /** Extra environment, e.g. `{ TRACKER_SECRET: "s" }` (the parent's secret is never inherited). */
  env?: Record<string, string> | undefined;
  /** Extra arguments after `--data-dir`, e.g. `["--fsync"]`. */
  args?: string[];
}

/** `clients=2 ops=3 users=1 groups=1 sessions=1 live=1 digest=ab12.. tracker2=up(12ms)`, parsed. */
export interface TrackerStatus {
  line: string;
  ops: number;
  users: number;
  groups: number;
  sessions: number;
  /** Hash of the whole replicated state: equal digests mean converged trackers. */
  digest: string;
  /** Per other tracker: whether the sync link is up. */
  links: Map<number, boolean>;
}

/** A running (or stopped, or crashed) ./tracker process; the handle survives restarts. */
export class TrackerProcess {
  #starting = false;
  readonly cluster: Cluster;
  readonly slot: TrackerSlot;
  options: TrackerStartOptions;
  proc!: Subprocess<"pipe", "pipe", "pipe">;
  stdout!: LineStream;
  stderr!: LineStream;
  /** The `tracker N listening on ...` line of the current run. */
  listeningLine = "";
  /** Resolves with the current run's exit code (128 + signal number when killed). */
  exited!: Promise<number>;

  constructor(cluster: Cluster, no: number, options: TrackerStartOptions) {
    const slot = cluster.slots[no - 1];
    if (!slot) throw new Error(`no tracker ${no} in a cluster of ${cluster.slots.length}`);
    this.cluster = cluster;
    this.slot = slot;
    this.options = options;
  }

  get no(): number {
    return this.slot.no;
  }

  /** `host:port` as written in tracker_info.txt. */
  get address(): string {
    return `${this.slot.host}:${this.slot.port}`;
  }

  get running(): boolean {
    return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Running and past its `listening` line (a chaos test must not kill a tracker mid-start). */
  get ready(): boolean {
    return this.running && !this.#starting;
  }

  /** Spawns the process and waits for its `listening` line; throws with its stderr otherwise. */
  async start(): Promise<this> {
    if (this.running) throw new Error(`tracker ${this.no} is already running`);
    const args = [
      TRACKER_BIN,
      this.cluster.infoPath,
      String(this.no),
      "--data-dir",
      this.slot.dataDir,
      ...(this.options.args ?? []),
    ];
    this.proc = Bun.spawn(args, {
      cwd: this.cluster.dir,
      env: childEnv(this.options.env),
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
    });
    this.#starting = true;
    try {
      return await this.#awaitListening();
    } finally {
      this.#starting = false;
    }
  }

  async #awaitListening(): Promise<this> {
    this.stdout = new LineStream(this.proc.stdout);
    this.stderr = new LineStream(this.proc.stderr);
    this.exited = this.proc.exited;
    const failed = () =>
      `tracker ${this.no} printed no "listening" line within ${START_TIMEOUT_MS} ms; stderr:\n${this.stderr.text()}`;
    let first: { lines: string[]; found: boolean };
    try {
      first = await this.stdout.next((l) => l.includes("listening"), START_TIMEOUT_MS);
    } catch {
      this.proc.kill("SIGKILL");
      throw new Error(failed());
    }
    if (!first.found) {
      await this.stderr.done;
      throw new Error(
        `tracker ${this.no} exited with status ${await this.exited} before listening; stderr:\n${this.stderr.text()}`,
      );
    }
    this.listeningLine = first.lines[first.lines.length - 1]!;
    return this;
  }

  /** Sends a signal (SIGKILL for crash tests) and waits for the exit; returns the exit code. */
  async kill(signal: NodeJS.Signals = "SIGTERM"): Promise<number> {
    if (!this.running) return this.exited;
    this.proc.kill(signal);
    return this.#awaitExit();
  }

  /** Writes `quit` on stdin and waits for the exit; returns the exit code. */
  async quit(): Promise<number> {
    this.proc.stdin.write("quit\n");
    this.proc.stdin.flush();
    return this.#awaitExit();
  }

  /** Starts it again on the same data dir (stopping it first with SIGKILL if it still runs). */
  async restart(options?: TrackerStartOptions): Promise<this> {
    if (this.running) await this.kill("SIGKILL");
    if (options) this.options = options;
    return this.start();
  }

  /** Asks the tracker for its `status` line on stdin. */
  async status(): Promise<TrackerStatus> {
    if (!this.running) throw new Error(`tracker ${this.no} is not running`);
    this.proc.stdin.write("status\n");
    this.proc.stdin.flush();
    const { lines, found } = await this.stdout.next((l) => l.startsWith("clients="), 5_000);
    if (!found) throw new Error(`tracker ${this.no} exited while asked for its status`);
    const line = lines[lines.length - 1]!;
    const field = (k: string) => line.match(new RegExp(`(?:^| )${k}=(\\S+)`))?.[1] ?? "";
    const links = new Map<number, boolean>();
    for (const m of line.matchAll(/tracker(\d+)=(up|down)/g)) links.set(Number(m[1]), m[2] === "up");
    return {
      line,
      ops: Number(field("ops")),
      users: Number(field("users")),
      groups: Number(field("groups")),
      sessions: Number(field("sessions")),
      digest: field("digest"),
      links,
    };
  }

  /** Stops this tracker for good (stopAll()). */
  async stop(): Promise<void> {
    if (this.running) await this.kill("SIGKILL");
  }

  async #awaitExit(): Promise<number> {
    try {
      return await withTimeout(this.exited, EXIT_TIMEOUT_MS, () => `tracker ${this.no} did not exit`);
    } catch (err) {
      this.proc.kill("SIGKILL");
      await this.exited;
      throw err;
    }
  }
}

/** Starts tracker `no` of the cluster on its data dir and waits for its `listening` line. */
export async function startTracker(
  cluster: Cluster,
  no: number,
  options: TrackerStartOptions = {},
): Promise<TrackerProcess> {
  const tracker = new TrackerProcess(cluster, no, options);
  processes.add(tracker);
  cluster.trackers.set(no, tracker);
  return tracker.start();
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
    throw new Error(`${(err as Error).message}; last status lines:\n${last.join("\n")}`);
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
    throw new Error(`${(err as Error).message}; last status lines:\n${last.join("\n")}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Clients

/** One command's output: stdout lines, stderr lines other than log records, and log records. */
export interface RunResult {
  out: string[];
  err: string[];
  log: string[];
}

export interface ClientStartOptions {
  /** The order in which this client tries the trackers (see writeClientInfo). */
  order?: (number | string)[] | undefined;
  /** A tracker_info.txt path to use as is (overrides `order`). */
  infoPath?: string;
  /** The peer port to serve pieces on (default: a free one). */
  port?: number;
  /** The client's data dir (default: a fresh one in the cluster dir). */
  dataDir?: string;
  env?: Record<string, string> | undefined;
}

/** A running ./client driven through its stdin, one command at a time. */
export class ClientProcess {
  readonly peer: string;
  readonly dataDir: string;
  readonly infoPath: string;
  readonly proc: Subprocess<"pipe", "pipe", "pipe">;
  readonly stdout: LineStream;
  readonly stderr: LineStream;
  readonly exited: Promise<number>;
  #seq = 0;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: {
    peer: string;
    dataDir: string;
    infoPath: string;
    cwd: string;
    env?: Record<string, string> | undefined;
  }) {
    this.peer = options.peer;
    this.dataDir = options.dataDir;
    this.infoPath = options.infoPath;
    this.proc = Bun.spawn([CLIENT_BIN, this.peer, this.infoPath, "--data-dir", this.dataDir], {
      cwd: options.cwd,
      env: childEnv(options.env),
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
    });
    this.stdout = new LineStream(this.proc.stdout);
    this.stderr = new LineStream(this.proc.stderr);
    this.exited = this.proc.exited;
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /**
   * Writes one command line and collects what it printed. After the command the harness writes
   * `help whoami` (whose one stdout line it knows) and an unknown command `__end_<n>__` (whose
   * one stderr line names it), and collects each stream up to its sentinel: commands run one at
   * a time, so everything before the sentinels belongs to this command. Lines printed
   * asynchronously (a lost session, a failover log) land in the command running at the time.
   * If the client exits (quit, EOF), returns what it printed before exiting.
   */
  run(line: string, options: { timeoutMs?: number } = {}): Promise<RunResult> {
    const result = this.#queue.then(() => this.#run(line, options.timeoutMs ?? RUN_TIMEOUT_MS));
    this.#queue = result.catch(() => {});
    return result;
  }

  /** Runs a command that must succeed: returns its stdout lines, throws on any `error:` line. */
  async ok(line: string, options: { timeoutMs?: number } = {}): Promise<string[]> {
    const r = await this.run(line, options);
    if (r.err.length > 0) throw new Error(`"${line}" failed: ${r.err.join(" | ")}`);
    return r.out;
  }

  /** Writes `quit` (or `command`, e.g. `exit`) and waits for the exit code; kills the client if it does not exit in time. */
  async close(options: { command?: string; timeoutMs?: number } = {}): Promise<number> {
    if (this.running) {
      this.proc.stdin.write(`${options.command ?? "quit"}\n`);
      this.proc.stdin.flush();
    }
    return this.#awaitExit(options.timeoutMs ?? EXIT_TIMEOUT_MS);
  }

  /** Closes stdin (EOF) and waits for the exit code. */
  async endInput(timeoutMs = EXIT_TIMEOUT_MS): Promise<number> {
    await this.proc.stdin.end();
    return this.#awaitExit(timeoutMs);
  }

  /** Sends a signal and waits for the exit code. */
  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<number> {
    this.proc.kill(signal);
    return this.#awaitExit(EXIT_TIMEOUT_MS);
  }

  /** Stops this client for good (stopAll()). */
  async stop(): Promise<void> {
    if (this.running) await this.kill("SIGKILL");
  }

  async #run(line: string, timeoutMs: number): Promise<RunResult> {
    if (line.includes("\n")) throw new Error("run() takes one command line");
    const n = ++this.#seq;
    const errSentinel = `__end_${n}__`;
    // `help whoami` typed by the test prints the sentinel line itself: wait for one more.
    let stdoutSentinels = line.trim().split(/\s+/).join(" ") === "help whoami" ? 2 : 1;
    this.proc.stdin.write(`${line}\nhelp whoami\n${errSentinel}\n`);
    this.proc.stdin.flush();
    const deadline = Date.now() + timeoutMs;
    const left = () => Math.max(1, deadline - Date.now());
    const fail = (what: string) =>
      new Error(
        `client ${this.peer}: "${line}" ${what}; stdout so far: ${JSON.stringify(this.stdout.lines.slice(this.stdout.cursor))}, stderr so far: ${JSON.stringify(this.stderr.lines.slice(this.stderr.cursor))}`,
      );
    const outLines: string[] = [];
    try {
      while (stdoutSentinels-- > 0) {
        const r = await this.stdout.next((l) => l === STDOUT_SENTINEL, left());
        outLines.push(...r.lines);
        if (!r.found) break;
      }
    } catch {
      throw fail(`printed no end of output within ${timeoutMs} ms`);
    }
    let errLines: string[];
    try {
      errLines = (await this.stderr.next((l) => l.includes(`"${errSentinel}"`), left())).lines;
    } catch {
      throw fail(`printed no end of errors within ${timeoutMs} ms`);
    }
    const out = outLines.filter((l, i) => !(l === STDOUT_SENTINEL && i === outLines.length - 1));
    const err = errLines.filter((l) => !l.includes(`"${errSentinel}"`));
    return { out, err: err.filter((l) => !LOG_LINE.test(l)), log: err.filter((l) => LOG_LINE.test(l)) };
  }

  async #awaitExit(timeoutMs: number): Promise<number> {
    try {
      return await withTimeout(
        this.exited,
        timeoutMs,
        () => `client ${this.peer} did not exit within ${timeoutMs} ms`,
      );
    } catch (err) {
      this.proc.kill("SIGKILL");
      await this.exited;
      throw err;
    }
  }
}

/** Starts a client with a free peer port and its own data dir; it has not logged in. */
export async function startClient(
  cluster: Cluster,
  options: ClientStartOptions = {},
): Promise<ClientProcess> {
  const port = options.port ?? freePort();
  const infoPath =
    options.infoPath ?? (options.order ? await writeClientInfo(cluster, options.order) : cluster.infoPath);
  const client = new ClientProcess({
    peer: `${HOST}:${port}`,
    dataDir: options.dataDir ?? join(cluster.dir, `client-${port}.data`),
    infoPath,
    cwd: cluster.dir,
    env: options.env,
  });
  processes.add(client);
  cluster.clients.push(client);
  return client;
}

// ---------------------------------------------------------------------------------------------
// A relay that loses replies

interface Pipe {
  client: Socket<PipeEnd>;
  upstream?: Socket<PipeEnd>;
  /** client bytes that arrived before the upstream connection was open */
  early: Uint8Array[];
}

interface PipeEnd {
  pipe?: Pipe;
  queue: Uint8Array[];
}

/**
 * A TCP relay on 127.0.0.1 in front of one tracker: list its `address` in a client's
 * tracker_info.txt copy to put it between that client and the tracker. `dropReplies()` makes
 * it swallow everything the tracker sends from then on (requests still get through);
 * `cut()` closes every relayed connection, as if the tracker had died.
 */
export class Relay {
  readonly port: number;
  #listener: TCPSocketListener<PipeEnd>;
  #pipes = new Set<Pipe>();
  #dropping = false;

  constructor(target: { host: string; port: number }) {
    this.#listener = Bun.listen<PipeEnd>({
      hostname: HOST,
      port: 0,
      socket: {
        open: (client) => {
          const pipe: Pipe = { client, early: [] };
          client.data = { pipe, queue: [] };
          this.#pipes.add(pipe);
          Bun.connect<PipeEnd>({
            hostname: target.host,
            port: target.port,
            socket: {
              open: (upstream) => {
                upstream.data = { pipe, queue: [] };
                pipe.upstream = upstream;
                for (const chunk of pipe.early.splice(0)) relayWrite(upstream, chunk);
              },
              data: (_upstream, chunk) => {
                if (!this.#dropping) relayWrite(pipe.client, chunk);
              },
              drain: flushRelay,
              close: () => this.#close(pipe),
              error: () => this.#close(pipe),
            },
          }).catch(() => this.#close(pipe));
        },
        data: (client, chunk) => {
          const pipe = client.data.pipe!;
          if (pipe.upstream) relayWrite(pipe.upstream, chunk);
          else pipe.early.push(new Uint8Array(chunk));
        },
        drain: flushRelay,
        close: (client) => this.#close(client.data.pipe!),
        error: (client) => this.#close(client.data.pipe!),
      },
    });
    this.port = this.#listener.port;
    processes.add(this);
  }

  /** `127.0.0.1:<port>`, for a tracker_info.txt line. */
  get address(): string {
    return `${HOST}:${this.port}`;
  }

  /** From now on, swallows every byte the tracker sends to its clients. */
  dropReplies(): void {
    this.#dropping = true;
  }

  /** Closes every relayed connection (new ones are still accepted and relayed). */
  cut(): void {
    for (const pipe of [...this.#pipes]) this.#close(pipe);
    this.#dropping = false;
  }

  /** Stops listening and closes everything (stopAll()). */
  async stop(): Promise<void> {
    this.cut();
    this.#listener.stop(true);
    processes.delete(this);
  }

  #close(pipe: Pipe): void {
    if (!this.#pipes.delete(pipe)) return;
    pipe.client.end();
    pipe.upstream?.end();
  }
}

/** Starts a Relay in front of `target` (a tracker's slot or any host and port). */
export function startRelay(target: { host: string; port: number }): Relay {
  return new Relay(target);
}

/** Writes all of `chunk`, queueing what the socket does not take now (STYLE §5: write() may be partial). */
function relayWrite(socket: Socket<PipeEnd>, chunk: Uint8Array): void {
  const queue = socket.data.queue;
  if (queue.length > 0) {
    queue.push(new Uint8Array(chunk));
    return;
  }
  const written = socket.write(chunk);
  if (written >= 0 && written < chunk.byteLength) queue.push(new Uint8Array(chunk.subarray(written)));
}

function flushRelay(socket: Socket<PipeEnd>): void {
  const queue = socket.data.queue;
  while (queue.length > 0) {
    const chunk = queue[0]!;
    const written = socket.write(chunk);
    if (written < 0) return;
    if (written < chunk.byteLength) {
      queue[0] = chunk.subarray(written);
      return;
    }
    queue.shift();
  }
}
