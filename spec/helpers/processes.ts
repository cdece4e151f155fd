// Every process and temp dir a test starts, and stopAll() that ends them; running a binary to its exit.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { withTimeout } from "./wait.ts";

/** The repository root, where `npm run build` leaves ./tracker and ./client. */
export const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));
/** Where the binaries are: the repository root, or P2P_BIN_DIR (a benchmark comparing two builds). */
const BIN_DIR = process.env.P2P_BIN_DIR ?? REPO_ROOT;
export const TRACKER_BIN = join(BIN_DIR, "tracker");
export const CLIENT_BIN = join(BIN_DIR, "client");

/** Something stopAll() must stop: a tracker, a client, a process run to its exit. */
export interface Stoppable {
  stop(): Promise<void>;
}

const processes = new Set<Stoppable>();
const tempDirs: string[] = [];

/** A fresh temp dir under os.tmpdir(), removed by stopAll(). */
export async function makeTempDir(prefix = "p2p-e2e-"): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

/** Registers a process for stopAll(); `untrack` once it is gone by itself. */
export function track(p: Stoppable): void {
  processes.add(p);
}

export function untrack(p: Stoppable): void {
  processes.delete(p);
}

/** Kills every tracker and client started through these helpers, then removes every temp dir. */
export async function stopAll(): Promise<void> {
  await Promise.all([...processes].map((p) => p.stop()));
  processes.clear();
  await Promise.all(tempDirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
}

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
  track(handle);
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
    untrack(handle);
  }
}

/** The parent's environment without a sync secret, plus `extra`. */
export function childEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && k !== "TRACKER_SECRET") env[k] = v;
  return { ...env, ...extra };
}
