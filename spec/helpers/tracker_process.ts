// A ./tracker process of a test cluster: started on its slot's data dir, ready past its `listening`
// line, killed, restarted, asked for its status on stdin; the handle survives restarts.
import type { Subprocess } from "bun";
import type { Cluster, TrackerSlot } from "./cluster.ts";
import { LineStream } from "./line_stream.ts";
import { childEnv, TRACKER_BIN, track } from "./processes.ts";
import { withTimeout } from "./wait.ts";

/** How long a tracker may take to print its `listening` line. */
export const START_TIMEOUT_MS = 10_000;
/** How long a process may take to exit after `quit` or a signal before it is killed. */
export const EXIT_TIMEOUT_MS = 5_000;

/** Options of one tracker start; `restart()` reuses them unless given new ones. */
export interface TrackerStartOptions {
  /** Extra environment, e.g. `{ TRACKER_SECRET: "s" }` (the parent's secret is never inherited). */
  env?: Record<string, string> | undefined;
  /** Extra arguments after `--data-dir`, e.g. `["--fsync"]`. */
  args?: string[];
  /** A command that runs the tracker, e.g. `["ip", "netns", "exec", "ns1"]` (it must exec it: same pid). */
  wrap?: string[];
  /** A tracker_info.txt of its own (same line count, e.g. other trackers behind relays). */
  infoPath?: string;
  /** How long it may take to print `listening` (default START_TIMEOUT_MS; a 1 GB state takes longer). */
  startTimeoutMs?: number;
  /** The <tracker_no> to pass (default its slot's number): its line in a file with lines removed above it. */
  no?: number;
}

/** `clients=2 ops=3 users=1 groups=1 sessions=1 live=1 digest=ab12.. tracker2=up(12ms)`, parsed. */
export interface TrackerStatus {
  line: string;
  ops: number;
  users: number;
  groups: number;
  sessions: number;
  /** Users, sessions, groups, files and request ids held. */
  entries: number;
  /** Bytes of the replicated state, encoded (as in a base). */
  stateBytes: number;
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
      ...(this.options.wrap ?? []),
      TRACKER_BIN,
      this.options.infoPath ?? this.cluster.infoPath,
      String(this.options.no ?? this.no),
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
    const timeoutMs = this.options.startTimeoutMs ?? START_TIMEOUT_MS;
    const failed = () =>
      `tracker ${this.no} printed no "listening" line within ${timeoutMs} ms; stderr:\n${this.stderr.text()}`;
    let first: { lines: string[]; found: boolean };
    try {
      first = await this.stdout.next((l) => l.includes("listening"), timeoutMs);
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
      entries: Number(field("entries")),
      stateBytes: Number(field("state_bytes")),
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
  track(tracker);
  cluster.trackers.set(no, tracker);
  return tracker.start();
}
