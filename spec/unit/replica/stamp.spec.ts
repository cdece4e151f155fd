// spec/unit/replica/stamp.spec.ts: hybrid logical clock stamps and their total order.
import { describe, expect, test } from "bun:test";
import { Clock, compareStamps, maxStamp, type Stamp, ZERO_STAMP } from "../../../lib/replica/stamp.ts";

const stamp = (wall: number, count: number, node: number): Stamp => ({ wall, count, node });

describe("compareStamps", () => {
  test("orders by wall clock first", () => {
    expect(compareStamps(stamp(1, 9, 9), stamp(2, 0, 1))).toBeLessThan(0);
    expect(compareStamps(stamp(2, 0, 1), stamp(1, 9, 9))).toBeGreaterThan(0);
  });

  test("orders equal wall clocks by counter", () => {
    expect(compareStamps(stamp(5, 1, 9), stamp(5, 2, 1))).toBeLessThan(0);
  });

  test("breaks a tie of wall clock and counter by tracker number", () => {
    expect(compareStamps(stamp(5, 1, 1), stamp(5, 1, 2))).toBeLessThan(0);
    expect(compareStamps(stamp(5, 1, 3), stamp(5, 1, 2))).toBeGreaterThan(0);
  });

  test("returns zero only for identical stamps", () => {
    expect(compareStamps(stamp(5, 1, 2), stamp(5, 1, 2))).toBe(0);
  });

  test("sorts any list into the same order whatever its starting order", () => {
    const stamps = [stamp(1, 0, 2), stamp(0, 3, 1), stamp(1, 0, 1), stamp(0, 3, 3), stamp(2, 0, 1)];
    const sorted = [...stamps].sort(compareStamps);
    expect([...stamps].reverse().sort(compareStamps)).toEqual(sorted);
    expect(sorted).toEqual([stamp(0, 3, 1), stamp(0, 3, 3), stamp(1, 0, 1), stamp(1, 0, 2), stamp(2, 0, 1)]);
  });
});

describe("maxStamp", () => {
  test("returns the later of two stamps", () => {
    expect(maxStamp(stamp(1, 0, 2), stamp(1, 0, 3))).toEqual(stamp(1, 0, 3));
    expect(maxStamp(stamp(4, 0, 1), ZERO_STAMP)).toEqual(stamp(4, 0, 1));
  });
});

describe("Clock", () => {
  test("stamps with the wall clock when it is ahead of the last stamp", () => {
    const clock = new Clock(2);
    expect(clock.tick(100)).toEqual(stamp(100, 0, 2));
    expect(clock.tick(150)).toEqual(stamp(150, 0, 2));
  });

  test("counts up within one millisecond", () => {
    const clock = new Clock(1);
    clock.tick(100);
    expect(clock.tick(100)).toEqual(stamp(100, 1, 1));
    expect(clock.tick(100)).toEqual(stamp(100, 2, 1));
  });

  test("stays strictly monotonic when the wall clock goes backwards", () => {
    const clock = new Clock(3);
    const issued = [200, 100, 50, 200, 199, 201, 0].map((nowMs) => clock.tick(nowMs));
    for (let i = 1; i < issued.length; i++) expect(compareStamps(issued[i - 1]!, issued[i]!)).toBeLessThan(0);
    expect(issued[1]).toEqual(stamp(200, 1, 3));
    expect(issued[5]).toEqual(stamp(201, 0, 3));
  });

  test("stamps after a remote stamp it has observed", () => {
    const clock = new Clock(1);
    clock.tick(10);
    clock.observe(stamp(500, 4, 2));
    expect(clock.last).toEqual(stamp(500, 4, 2));
    const next = clock.tick(20);
    expect(next).toEqual(stamp(500, 5, 1));
    expect(compareStamps(next, stamp(500, 4, 2))).toBeGreaterThan(0);
  });

  test("ignores an observed stamp older than its last one", () => {
    const clock = new Clock(1);
    clock.tick(100);
    clock.observe(stamp(50, 9, 2));
    expect(clock.last).toEqual(stamp(100, 0, 1));
  });

  test("resumes from a given last stamp", () => {
    const clock = new Clock(2, stamp(70, 3, 1));
    expect(clock.tick(10)).toEqual(stamp(70, 4, 2));
  });
});
