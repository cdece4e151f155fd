import { expect, test } from "bun:test";
import { cpuSeconds, machineCpu } from "../../../bench/proc.ts";

test("the machine's CPU time grows by at least what a process burns, and idle never exceeds it", () => {
  const before = machineCpu();
  const mine = cpuSeconds(process.pid);
  // Spun on our own CPU time, not the clock: on a loaded machine a wall-clock spin may get little.
  const giveUp = performance.now() + 20_000;
  while (cpuSeconds(process.pid) - mine < 0.3 && performance.now() < giveUp) {}
  const burnt = cpuSeconds(process.pid) - mine;
  const after = machineCpu();
  expect(burnt).toBeGreaterThanOrEqual(0.3);
  expect(after.totalS - before.totalS).toBeGreaterThanOrEqual(burnt - 0.02); // 10 ms ticks
  expect(after.idleS).toBeGreaterThanOrEqual(before.idleS);
  expect(after.idleS - before.idleS).toBeLessThan(after.totalS - before.totalS);
  expect(Number.isNaN(cpuSeconds(2 ** 22 + 1))).toBe(true); // above any pid_max: no such process
});
