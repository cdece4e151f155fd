import { expect, test } from "bun:test";
import { cpuSeconds, machineCpu } from "../../../bench/proc.ts";

test("the machine's CPU time grows as a process burns CPU, and idle never exceeds it", () => {
  const before = machineCpu();
  const mine = cpuSeconds(process.pid);
  const until = performance.now() + 300;
  let spin = 0;
  while (performance.now() < until) spin++;
  const after = machineCpu();
  expect(spin).toBeGreaterThan(0);
  expect(after.totalS - before.totalS).toBeGreaterThan(0.2); // 0.3 s busy on one core at least
  expect(after.idleS).toBeGreaterThanOrEqual(before.idleS);
  expect(after.idleS - before.idleS).toBeLessThan(after.totalS - before.totalS);
  expect(cpuSeconds(process.pid) - mine).toBeGreaterThan(0.2);
  expect(Number.isNaN(cpuSeconds(2 ** 22 + 1))).toBe(true); // no such process
});
