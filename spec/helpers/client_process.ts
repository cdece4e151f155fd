// A ./client process driven through its stdin one command at a time: after each command it sends
// `help whoami`, whose known output (the sentinel) closes that command's output on stdout.

import { join } from "node:path";
import type { Subprocess } from "bun";
import { COMMANDS, usage } from "../../lib/client/commands.ts";
import { type Cluster, writeClientInfo } from "./cluster.ts";
import { LineStream } from "./line_stream.ts";
import { CLIENT_BIN, childEnv, track } from "./processes.ts";
import { EXIT_TIMEOUT_MS } from "./tracker_process.ts";
import { freePort, HOST, withTimeout } from "./wait.ts";

/** Longer than the client's own request timeout (20 s), so a failing command reports itself. */
const RUN_TIMEOUT_MS = 30_000;
/** A client log record (lib/cli/log.ts), as opposed to command output. */
const LOG_LINE = /^\d{4}-\d\d-\d\dT[\d:.]+Z (info|warn) /;
/** What `help whoami` prints: the stdout sentinel that closes each command's output. */
const STDOUT_SENTINEL = `${usage("whoami")}: ${COMMANDS.whoami.help}`;

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
  /** More arguments after the usual ones (e.g. `--web 127.0.0.1:PORT`). */
  args?: string[] | undefined;
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
    args?: string[] | undefined;
  }) {
    this.peer = options.peer;
    this.dataDir = options.dataDir;
    this.infoPath = options.infoPath;
    this.proc = Bun.spawn(
      [CLIENT_BIN, this.peer, this.infoPath, "--data-dir", this.dataDir, ...(options.args ?? [])],
      {
        cwd: options.cwd,
        env: childEnv(options.env),
        stdin: "pipe",
        stdout: "pipe",
        stderr: "pipe",
      },
    );
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
    args: options.args,
  });
  track(client);
  cluster.clients.push(client);
  return client;
}
