// spec/unit/replica/rid_log.spec.ts: RidLog keeps ids oldest first across its chunks, expires
// exactly the oldest prefix, and clones independently.
import { describe, expect, test } from "bun:test";
import { RidLog } from "../../../lib/replica/rid_log.ts";

/** `count` ids, id i at wall time i. Spans several chunks for counts past 16,384. */
function logOf(count: number): RidLog {
  const log = new RidLog();
  for (let i = 0; i < count; i++)
    log.add(`r${i}`, i % 7 === 0 ? { ok: false, reason: `no ${i}`, wall: i } : { ok: true, wall: i });
  return log;
}

describe("RidLog", () => {
  test("finds every id it holds, in any chunk, and no other", () => {
    const log = logOf(40_000);
    expect(log.size).toBe(40_000);
    for (const i of [0, 1, 16_383, 16_384, 32_768, 39_999]) {
      expect({ i, o: log.get(`r${i}`) }).toEqual({
        i,
        o: i % 7 === 0 ? { ok: false, reason: `no ${i}`, wall: i } : { ok: true, wall: i },
      });
    }
    expect(log.has("r40000")).toBe(false);
    expect(log.get("nope")).toBeUndefined();
  });

  test("lists ids oldest first", () => {
    const walls = [...logOf(20_000).entries()].map(([, o]) => o.wall);
    expect(walls).toEqual(Array.from({ length: 20_000 }, (_, i) => i));
  });

  test("expires exactly the ids before a wall time, across chunk boundaries", () => {
    const log = logOf(40_000);
    log.expireBefore(20_000);
    expect(log.size).toBe(20_000);
    expect([log.has("r19999"), log.has("r20000"), log.has("r39999")]).toEqual([false, true, true]);
    log.expireBefore(10); // nothing that old is left
    expect(log.size).toBe(20_000);
    log.expireBefore(Infinity);
    expect(log.size).toBe(0);
    expect([...log.entries()]).toEqual([]);
    log.add("again", { ok: true, wall: 1 });
    expect([log.size, log.has("again")]).toEqual([1, true]);
  });

  test("stops at the first id that has not expired, as replay order demands", () => {
    const log = new RidLog();
    log.add("a", { ok: true, wall: 5 });
    log.add("b", { ok: true, wall: 50 });
    log.add("c", { ok: true, wall: 7 }); // older wall behind a newer one: kept until "b" goes
    log.expireBefore(10);
    expect([...log.entries()].map(([rid]) => rid)).toEqual(["b", "c"]);
  });

  test("clones independently", () => {
    const log = logOf(20_000);
    const copy = log.clone();
    copy.add("new", { ok: true, wall: 99_999 });
    copy.expireBefore(100);
    expect([log.size, log.has("r0"), log.has("new")]).toEqual([20_000, true, false]);
    expect([copy.size, copy.has("r0"), copy.has("new")]).toEqual([19_901, false, true]);
  });
});
