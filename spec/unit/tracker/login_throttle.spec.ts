import { describe, expect, test } from "bun:test";
import { LoginThrottle } from "../../../lib/tracker/login_throttle.ts";

describe("LoginThrottle", () => {
  test("lets the first three failures through without delay", () => {
    const t = new LoginThrottle();
    for (let i = 0; i < 3; i++) {
      expect(t.delayMs("u1", "10.0.0.1", 1_000)).toBe(0);
      t.failed("u1", "10.0.0.1", 1_000);
    }
    expect(t.delayMs("u1", "10.0.0.1", 1_000)).toBe(250);
  });

  test("doubles the delay with each further failure, up to 8 s", () => {
    const t = new LoginThrottle();
    const delays: number[] = [];
    for (let i = 0; i < 10; i++) {
      t.failed("u1", "10.0.0.1", 0);
      delays.push(t.delayMs("u1", "10.0.0.1", 0));
    }
    expect(delays).toEqual([0, 0, 250, 500, 1000, 2000, 4000, 8000, 8000, 8000]);
  });

  test("slows one address guessing many user ids, and one user id guessed from many addresses", () => {
    const t = new LoginThrottle();
    for (let i = 0; i < 5; i++) t.failed(`user${i}`, "10.0.0.9", 0);
    expect(t.delayMs("someone-else", "10.0.0.9", 0)).toBeGreaterThan(0);
    for (let i = 0; i < 5; i++) t.failed("admin", `10.0.1.${i}`, 0);
    expect(t.delayMs("admin", "10.0.2.1", 0)).toBeGreaterThan(0);
  });

  test("forgets failures after ten minutes and a user's failures on success", () => {
    const t = new LoginThrottle();
    for (let i = 0; i < 5; i++) t.failed("u1", "a", 0);
    expect(t.delayMs("u1", "b", 600_000)).toBe(0);
    for (let i = 0; i < 5; i++) t.failed("u2", "c", 0);
    t.succeeded("u2");
    expect(t.delayMs("u2", "d", 0)).toBe(0);
  });
});
