// Bench processes: spawns children that are always bounded in time and always stopped, runs
// commands to completion, and polls a process's peak RSS. Must not leave anything running.

import { readFileSync } from "node:fs";
import type { Subprocess } from "bun";

/** How often a process's peak RSS is sampled while it runs. */
const RSS_POLL_MS = 50;

/** A child started by the bench: killed by its deadline, by stopChildren(), or by its owner. */
export interface Child {
  proc: Subprocess<"ignore" | "pipe", "pipe" | "ignore", "pipe" | "ignore">;
  /** Exit code (128 + signal number when killed). */
  exited: Promise<number>;
  /** SIGKILLs it (no-op once it has exited) and waits for the exit. */
  stop(): Promise<number>;
}

const children = new Set<Child>();

/** Spawns `cmd`; it is SIGKILLed after `timeoutMs` whatever happens. */
export function spawnChild(
  cmd: string[],
  options: {
    timeoutMs: number;
    cwd?: string;
    stdin?: "ignore" | "pipe";
    stdout?: "pipe" | "ignore";
    stderr?: "pipe" | "ignore";
  },
): Child {
  const proc = Bun.spawn(cmd, {
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    stdin: options.stdin ?? "ignore",
    stdout: options.stdout ?? "ignore",
    stderr: options.stderr ?? "ignore",
  });
  const timer = setTimeout(() => proc.kill("SIGKILL"), options.timeoutMs);
  const exited = proc.exited.then((code) => {
    clearTimeout(timer);
    children.delete(child);
    const signal = proc.signalCode;
    if (signal === null || signal === undefined) return code;
    return 128 + (typeof signal === "number" ? signal : (signalNumber(signal) ?? 0));
  });
  const child: Child = {
    proc,
    exited,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
      return exited;
    },
  };
  children.add(child);
  return child;
}

/** Kills every child still running (bench end, error, signal). */
export async function stopChildren(): Promise<void> {
  await Promise.all([...children].map((c) => c.stop()));
}

/** What a command printed and how long it took. */
export interface Ran {
  exitCode: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs `cmd` to its exit (killed after `timeoutMs`); times it from spawn to exit. */
export async function runCommand(cmd: string[], options: { timeoutMs: number; cwd?: string }): Promise<Ran> {
  const started = performance.now();
  const child = spawnChild(cmd, { ...options, stdout: "pipe", stderr: "pipe" });
  // casts: spawned with stdout and stderr "pipe"
  const stdout = new Response(child.proc.stdout as ReadableStream).text();
  const stderr = new Response(child.proc.stderr as ReadableStream).text();
  const exitCode = await child.exited;
  const ms = performance.now() - started;
  return { exitCode, stdout: await stdout, stderr: await stderr, ms };
}

/** Like runCommand, but throws with the command's stderr unless it exits 0. */
export async function runOk(cmd: string[], options: { timeoutMs: number; cwd?: string }): Promise<Ran> {
  const ran = await runCommand(cmd, options);
  if (ran.exitCode !== 0)
    throw new Error(
      `${cmd.join(" ")} exited with status ${ran.exitCode}: ${ran.stderr.trim().slice(0, 500)}`,
    );
  return ran;
}

/** VmHWM (peak resident set) of a live process in bytes, or 0 once it is gone. */
export function peakRssBytes(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kib = status.match(/^VmHWM:\s+(\d+) kB/m)?.[1];
    return kib === undefined ? 0 : Number(kib) * 1024;
  } catch {
    return 0; // exited between two polls: the last sample stands
  }
}

/** CPU seconds (user + system) a live process has used so far, from /proc/<pid>/stat. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100; // USER_HZ is 100 on Linux
  } catch {
    return NaN;
  }
}

/** The machine's CPU time so far, all cores, from /proc/stat: total and idle, in seconds. */
export function machineCpu(): { totalS: number; idleS: number } {
  const [, ...ticks] = (readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "").trim().split(/\s+/);
  const n = ticks.slice(0, 8).map(Number); // user nice system idle iowait irq softirq steal
  return { totalS: n.reduce((a, b) => a + b, 0) / 100, idleS: ((n[3] ?? 0) + (n[4] ?? 0)) / 100 };
}

/**
 * Samples VmHWM every RSS_POLL_MS while a process runs. VmHWM is the kernel's own high-water
 * mark, so a sample taken any time after the peak still sees it: polling only has to catch the
 * process alive once after its peak (the caller reads it last just before stopping it).
 */
export class RssWatch {
  #pid: number;
  #peak = 0;
  #timer: ReturnType<typeof setInterval>;

  constructor(pid: number) {
    this.#pid = pid;
    this.#timer = setInterval(() => this.sample(), RSS_POLL_MS);
    this.sample();
  }

  /** Reads VmHWM now; returns the highest value seen. */
  sample(): number {
    this.#peak = Math.max(this.#peak, peakRssBytes(this.#pid));
    return this.#peak;
  }

  /** Stops polling; returns the peak in bytes (a last sample included). */
  stop(): number {
    clearInterval(this.#timer);
    return this.sample();
  }
}

function signalNumber(name: string): number | undefined {
  const numbers: Record<string, number> = {
    SIGHUP: 1,
    SIGINT: 2,
    SIGKILL: 9,
    SIGSEGV: 11,
    SIGPIPE: 13,
    SIGTERM: 15,
  };
  return numbers[name];
}
