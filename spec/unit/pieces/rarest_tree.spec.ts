// spec/unit/pieces/rarest_tree.spec.ts: RarestTree against a plain array: the lowest value, how
// many slots hold it, and the k-th of them in index order, after any sequence of sets.
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { RarestTree } from "../../../lib/pieces/rarest_tree.ts";

const FC_RUNS = Number(process.env.FC_RUNS ?? 500);

function expectLike(tree: RarestTree, slots: (number | undefined)[]): void {
  const held = slots.flatMap((v, i) => (v === undefined ? [] : [{ v, i }]));
  const min = held.length === 0 ? undefined : Math.min(...held.map((h) => h.v));
  const atMin = held.filter((h) => h.v === min).map((h) => h.i);
  expect(tree.min()).toBe(min);
  expect(tree.countAtMin()).toBe(atMin.length);
  expect(atMin.map((_, k) => tree.kthAtMin(k))).toEqual(atMin);
}

describe("RarestTree", () => {
  test("agrees with a plain array after any sets", () => {
    const sizeAndSets = fc
      .integer({ min: 1, max: 70 })
      .chain((size) =>
        fc.tuple(
          fc.constant(size),
          fc.array(fc.tuple(fc.nat(size - 1), fc.option(fc.nat(4), { nil: undefined })), { maxLength: 200 }),
        ),
      );
    fc.assert(
      fc.property(sizeAndSets, ([size, sets]) => {
        const tree = new RarestTree(size);
        const slots: (number | undefined)[] = Array.from({ length: size }, () => undefined);
        expectLike(tree, slots);
        for (const [i, v] of sets) {
          tree.set(i, v);
          slots[i] = v;
          expectLike(tree, slots);
        }
      }),
      { numRuns: FC_RUNS },
    );
  });

  test("an empty tree, and one of no slots, hold nothing", () => {
    for (const size of [0, 1, 5]) {
      const tree = new RarestTree(size);
      expect(tree.min()).toBeUndefined();
      expect(tree.countAtMin()).toBe(0);
      expect(() => tree.kthAtMin(0)).toThrow(RangeError);
    }
  });

  test("refuses slots, values and ranks out of range", () => {
    const tree = new RarestTree(3);
    expect(() => tree.set(3, 1)).toThrow(RangeError);
    expect(() => tree.set(-1, 1)).toThrow(RangeError);
    expect(() => tree.set(1.5, 1)).toThrow(RangeError);
    expect(() => tree.set(0, -1)).toThrow(RangeError);
    expect(() => tree.set(0, 0xffff_ffff)).toThrow(RangeError);
    tree.set(2, 0);
    expect(() => tree.kthAtMin(1)).toThrow(RangeError);
    expect(tree.kthAtMin(0)).toBe(2);
  });
});
