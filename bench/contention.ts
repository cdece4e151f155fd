// How busy the machine is with processes other than the bench and its children: on a shared
// machine they skew every figure, so each phase reports it. Reads /proc once a second.
import { readdirSync, readFileSync } from "node:fs";
import { cpus } from "node:os";

const SAMPLE_MS = 1_000;
const CLOCK_TICKS_PER_S = 100; // USER_HZ on Linux

/** CPU used by other processes during one phase, in cores (1.0 = one core fully busy). */
export interface Contention {
  phase: string;
  seconds: number;
  meanOtherCores: number;
  maxOtherCores: number;
}

export class ContentionMonitor {
  #timer: ReturnType<typeof setInterval>;
  #last = read();
  #phases: Contention[] = [];
  #current: { phase: string; startedMs: number; otherTicks: number; max: number; pausedMs: number };
  #pausedAt: number | undefined;

  constructor(phase: string) {
    this.#current = { phase, startedMs: performance.now(), otherTicks: 0, max: 0, pausedMs: 0 };
    this.#timer = setInterval(() => this.#sample(), SAMPLE_MS);
    this.#timer.unref();
  }

  /** Ends the current phase and starts `phase`. */
  phase(phase: string): void {
    this.#sample();
    this.#close();
    this.#current = { phase, startedMs: performance.now(), otherTicks: 0, max: 0, pausedMs: 0 };
  }

  /** Stops counting (while the bench itself waits for a quiet machine) until resume(). */
  pause(): void {
    this.#sample();
    this.#pausedAt = performance.now();
  }

  resume(): void {
    if (this.#pausedAt === undefined) return;
    this.#last = read();
    this.#current.pausedMs += performance.now() - this.#pausedAt;
    this.#pausedAt = undefined;
  }

  /** Stops sampling; every phase's figures. */
  stop(): Contention[] {
    clearInterval(this.#timer);
    this.#sample();
    this.#close();
    return this.#phases;
  }

  /** Cores available, for context. */
  static get cores(): number {
    return cpus().length;
  }

  #close(): void {
    const seconds = (performance.now() - this.#current.startedMs - this.#current.pausedMs) / 1000;
    if (seconds < 0.5) return;
    const meanOtherCores = this.#current.otherTicks / CLOCK_TICKS_PER_S / seconds;
    this.#phases.push({
      phase: this.#current.phase,
      seconds,
      meanOtherCores,
      maxOtherCores: Math.max(this.#current.max, meanOtherCores),
    });
  }

  #sample(): void {
    if (this.#pausedAt !== undefined) return;
    const now = read();
    const busy = now.busyTicks - this.#last.busyTicks;
    const ours = now.ourTicks - this.#last.ourTicks;
    const other = Math.max(0, busy - ours);
    const seconds = (now.atMs - this.#last.atMs) / 1000;
    if (seconds > 0.2) this.#current.max = Math.max(this.#current.max, other / CLOCK_TICKS_PER_S / seconds);
    this.#current.otherTicks += other;
    this.#last = now;
  }
}

/**
 * System-wide busy ticks, and the ticks of the bench's process tree: each process's own CPU
 * plus its reaped children's (cutime, cstime), so a child that exits moves its ticks into its
 * parent's and the sum over the tree only grows by what was really used.
 */
function read(): { atMs: number; busyTicks: number; ourTicks: number } {
  const atMs = performance.now();
  const cpu = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal: busy is all but idle and iowait.
  const busyTicks = cpu[0]! + cpu[1]! + cpu[2]! + cpu[5]! + cpu[6]! + cpu[7]!;
  const parents = new Map<number, number>();
  const ticks = new Map<number, number>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      parents.set(Number(name), Number(fields[1]));
      ticks.set(
        Number(name),
        Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]),
      );
    } catch {
      // exited while we looked
    }
  }
  let ourTicks = 0;
  const isOurs = (pid: number): boolean => {
    for (
      let p: number | undefined = pid, hops = 0;
      p !== undefined && p > 1 && hops < 64;
      p = parents.get(p), hops++
    ) {
      if (p === process.pid) return true;
    }
    return false;
  };
  for (const [pid, t] of ticks) if (isOurs(pid)) ourTicks += t;
  return { atMs, busyTicks, ourTicks };
}

/**
 * Waits until processes other than the bench have used less than `thresholdCores` over one
 * second, or `maxMs` has passed (`--wait-quiet`: a shared machine skews every figure).
 */
export async function waitForQuiet(options: {
  maxMs: number;
  thresholdCores: number;
}): Promise<{ waitedMs: number; quiet: boolean }> {
  const started = performance.now();
  let last = read();
  for (;;) {
    await Bun.sleep(1_000);
    const now = read();
    const other = Math.max(0, now.busyTicks - last.busyTicks - (now.ourTicks - last.ourTicks));
    const cores = other / CLOCK_TICKS_PER_S / ((now.atMs - last.atMs) / 1000);
    const waitedMs = performance.now() - started;
    if (cores < options.thresholdCores) return { waitedMs, quiet: true };
    if (waitedMs >= options.maxMs) return { waitedMs, quiet: false };
    last = now;
  }
}
