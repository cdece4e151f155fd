// spec/unit/peer/super_seed.spec.ts: what the first seeder shows each downloader: a few pieces
// nobody was sent yet, one more per piece sent, and everything once each piece has left once.
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { SuperSeed } from "../../../lib/peer/super_seed.ts";
import type { Bitfield } from "../../../lib/pieces/bitfield.ts";

const FC_RUNS = Number(process.env.FC_RUNS ?? 200);

const shown = (bits: Bitfield) => Array.from({ length: bits.size }, (_, i) => i).filter((i) => bits.has(i));

describe("SuperSeed", () => {
  test("offers each connection pieces nobody else is offered, and one more per piece sent", () => {
    const s = new SuperSeed<string>(8, { offersPerConnection: 2 });
    expect(shown(s.open("a"))).toEqual([0, 1]);
    expect(shown(s.open("b"))).toEqual([2, 3]);
    expect(s.sent("a", 0)).toEqual([{ conn: "a", indexes: [4] }]);
    expect(s.sent("b", 3)).toEqual([{ conn: "b", indexes: [5] }]);
    s.close("b"); // its offers (2 and 5) go back to the pool
    expect(shown(s.open("c"))).toEqual([6, 7]);
    expect(s.sent("a", 1)).toEqual([{ conn: "a", indexes: [2] }]);
    expect(s.active).toBe(true);
  });

  test("a connection leaving gives its offers to those left without any", () => {
    // A 2-piece file: the first downloader is offered both, the second nothing, and declines.
    const s = new SuperSeed<string>(2, { offersPerConnection: 2 });
    expect(shown(s.open("a"))).toEqual([0, 1]);
    expect(shown(s.open("b"))).toEqual([]);
    expect(s.declined("b")).toEqual([]);
    expect(s.close("a")).toEqual([{ conn: "b", indexes: [0, 1] }]);
    expect(s.close("b")).toEqual([]);
    expect(s.active).toBe(true);
  });

  test("offers age with the shell's ticks too: a downloader that neither asks nor leaves holds them 8 seconds", () => {
    const s = new SuperSeed<string>(2, { offersPerConnection: 2 });
    expect(shown(s.open("a"))).toEqual([0, 1]);
    expect(shown(s.open("b"))).toEqual([]);
    for (let second = 1; second < 8; second++) expect(s.tick()).toEqual([]);
    expect(s.tick()).toEqual([{ conn: "b", indexes: [0, 1] }]);
    expect(s.tick()).toEqual([]); // b is shown all it can be
    expect(s.sent("b", 0)).toEqual([]);
    expect(s.sent("a", 1)).toEqual([]); // the last piece left: both were shown both already
    expect(s.active).toBe(false);
    expect(s.tick()).toEqual([]);
  });

  test("offers go in file order from the first piece, wrapping to pieces given back", () => {
    const s = new SuperSeed<string>(5, { offersPerConnection: 2 });
    expect(shown(s.open("a"))).toEqual([0, 1]);
    expect(shown(s.open("b"))).toEqual([2, 3]);
    expect(s.close("a")).toEqual([]); // b holds all it may: 0 and 1 go back to the pool
    expect(shown(s.open("c"))).toEqual([0, 4]); // 4 next, then round to 0
  });

  test("once every unsent piece is on offer, nothing is offered twice until offers go stale", () => {
    const s = new SuperSeed<string>(3, { offersPerConnection: 2, staleAfterSends: 1 });
    expect(shown(s.open("a"))).toEqual([0, 1]);
    expect(shown(s.open("b"))).toEqual([2]);
    expect(shown(s.open("c"))).toEqual([]); // nothing free, and no offer has waited a send yet
    // One send later the others' offers are stale: shared, least offered first, with every
    // connection short of offers.
    expect(s.sent("a", 0)).toEqual([
      { conn: "a", indexes: [2] },
      { conn: "b", indexes: [1] },
      { conn: "c", indexes: [1, 2] },
    ]);
  });

  test("when the last unsent piece leaves, everyone is shown everything, and later connections too", () => {
    const s = new SuperSeed<string>(3, { offersPerConnection: 1, staleAfterSends: 0 });
    s.open("a");
    s.open("b");
    expect(s.sent("a", 0)).toEqual([{ conn: "a", indexes: [2] }]);
    // Nothing unsent is free to offer b: it shares 2 with a rather than wait for a to ask.
    expect(s.sent("b", 1)).toEqual([{ conn: "b", indexes: [2] }]);
    expect(s.sent("a", 2)).toEqual([
      { conn: "a", indexes: [1], all: true },
      { conn: "b", indexes: [0], all: true },
    ]);
    expect(s.active).toBe(false);
    expect(shown(s.open("c"))).toEqual([0, 1, 2]);
    expect(s.sent("c", 1)).toEqual([]);
    expect(() => new SuperSeed<string>(3, { offersPerConnection: 0 })).toThrow(/offersPerConnection/);
    expect(() => new SuperSeed<string>(3, { staleAfterSends: -1 })).toThrow(/staleAfterSends/);
  });

  test("whatever the order of opens, sends, declines, ticks and closes: never a piece shown twice to one connection, none left short of offers while a piece is free, and all shown once every piece was sent", () => {
    const step = fc.oneof(
      fc.record({ k: fc.constant("open" as const), c: fc.integer({ min: 0, max: 4 }) }),
      fc.record({ k: fc.constant("close" as const), c: fc.integer({ min: 0, max: 4 }) }),
      fc.record({ k: fc.constant("send" as const), c: fc.integer({ min: 0, max: 4 }), pick: fc.nat() }),
      fc.record({ k: fc.constant("decline" as const), c: fc.integer({ min: 0, max: 4 }) }),
      fc.record({ k: fc.constant("tick" as const) }),
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 0, max: 4 }),
        fc.array(step),
        (count, offers, stale, steps) => {
          const s = new SuperSeed<number>(count, { offersPerConnection: offers, staleAfterSends: stale });
          const view = new Map<number, Set<number>>();
          // What each connection was offered and has not taken (sent there, or declined).
          const open = new Map<number, Set<number>>();
          const sentOnce = new Set<number>();
          const show = (c: number, indexes: readonly number[]) => {
            const seen = view.get(c)!;
            for (const i of indexes) {
              expect(seen.has(i)).toBe(false);
              seen.add(i);
              if (s.active) open.get(c)?.add(i);
            }
          };
          for (const st of steps) {
            if (st.k === "open") {
              if (view.has(st.c)) continue;
              view.set(st.c, new Set());
              open.set(st.c, new Set());
              show(st.c, shown(s.open(st.c)));
            } else if (st.k === "close") {
              view.delete(st.c);
              open.delete(st.c);
              for (const r of s.close(st.c)) show(r.conn, r.indexes);
            } else if (st.k === "tick") {
              for (const r of s.tick()) show(r.conn, r.indexes);
            } else if (st.k === "decline") {
              if (!view.has(st.c)) continue;
              for (const i of open.get(st.c) ?? []) sentOnce.add(i); // someone else has it
              open.get(st.c)?.clear();
              for (const r of s.declined(st.c)) show(r.conn, r.indexes);
            } else {
              const seen = view.get(st.c);
              if (!seen || seen.size === 0) continue;
              const index = [...seen][st.pick % seen.size]!; // a downloader asks only what it was shown
              sentOnce.add(index);
              open.get(st.c)?.delete(index);
              for (const r of s.sent(st.c, index)) show(r.conn, r.indexes);
            }
            // No connection is left short of offers while a piece never sent is on offer nowhere.
            if (s.active) {
              const onOffer = new Set([...open.values()].flatMap((o) => [...o]));
              for (const [c, o] of open) {
                if (o.size >= offers) continue;
                const free = Array.from({ length: count }, (_, i) => i).filter(
                  (i) => !sentOnce.has(i) && !onOffer.has(i) && !view.get(c)!.has(i),
                );
                expect({ conn: c, free }).toEqual({ conn: c, free: [] });
              }
            }
            // Offers stay within the limit while super-seeding; never more than the file.
            for (const seen of view.values()) expect(seen.size).toBeLessThanOrEqual(count);
            expect(s.active).toBe(sentOnce.size < count);
            if (!s.active) for (const seen of view.values()) expect(seen.size).toBe(count);
          }
        },
      ),
      { numRuns: FC_RUNS },
    );
  });
});
