// spec/unit/bench/stripe_trees.spec.ts: the stripe-tree what-if of the swarm simulator: trees
// that are balanced, acyclic and shallow, and a flash crowd on them that reaches the bound with
// every piece sent by the source once and by the swarm once per downloader.
import { describe, expect, test } from "bun:test";
import { stripeOf, stripeTrees } from "../../../bench/stripe_trees.ts";
import { flashCrowd, simulateSwarm } from "../../../bench/swarm_sim.ts";

const LAN = 100e6;
const F = 64 * 2 ** 20; // 128 pieces

/** Each downloader's depth in stripe `s` (the source at 0), or Infinity on a cycle. */
function depths(parents: number[][], s: number): number[] {
  return parents.map((_, d) => {
    let depth = 0;
    for (let host = d + 1; host !== 0; host = parents[host - 1]?.[s] ?? 0)
      if (++depth > parents.length) return Infinity;
    return depth;
  });
}

describe("stripe trees", () => {
  test.each([
    [4, 4],
    [16, 4],
    [100, 4],
    [100, 5],
    [1000, 4],
    [12, 1],
    [10, 4],
    [99, 4],
    [101, 4],
  ])("%d downloaders, %d stripes: one parent each per stripe, none sending to over K, shallow", (n, k) => {
    const { parents } = stripeTrees(n, k);
    expect(parents.length).toBe(n);
    const sends = new Map<number, number>(); // host -> children over all stripes
    for (let s = 0; s < k; s++) {
      let fromSource = 0;
      for (let d = 0; d < n; d++) {
        const parent = parents[d]?.[s] ?? -1;
        expect(parent).toBeGreaterThanOrEqual(0);
        expect(parent).not.toBe(d + 1);
        // Evenly divided, only the stripe's forwarders have children in it.
        if (parent > 0 && n % k === 0) expect(stripeOf(parent - 1, k)).toBe(s);
        if (parent === 0) fromSource++;
        else sends.set(parent, (sends.get(parent) ?? 0) + 1);
      }
      expect(fromSource).toBe(1); // the source sends each stripe to one root
      const deepest = Math.max(...depths(parents, s));
      const bound = k === 1 ? n : Math.ceil(Math.log(n / k) / Math.log(k)) + 3;
      expect(deepest).toBeLessThanOrEqual(bound);
    }
    expect(Math.max(...sends.values())).toBeLessThanOrEqual(k);
  });

  test("fewer downloaders than stripes, or no stripes, are refused with the reason", () => {
    expect(() => stripeTrees(3, 4)).toThrow("3 downloaders for 4 stripes");
    expect(() => stripeTrees(8, 0)).toThrow("Invalid stripes");
  });

  test("a flash crowd of 64 on them finishes within 1.05x the bound, nothing sent twice", () => {
    const hosts = flashCrowd({ peers: 64, sourceBits: LAN, peerBits: () => LAN });
    const trees = simulateSwarm({ sizeBytes: F, hosts, seed: 7, stripeTrees: 4 });
    const done = trees.finishMs.filter((t): t is number => t !== undefined);
    expect(done.length).toBe(64);
    expect(Math.max(...done) / trees.boundMs).toBeLessThan(1.05);
    expect({ bad: trees.badWritten, gaveUp: trees.gaveUp }).toEqual({ bad: 0, gaveUp: 0 });
    expect(trees.sourceUploads).toBe(128);
    expect(trees.totalUploads).toBe(64 * 128);
  });

  // Each downloader has one parent a stripe there, so a lost "have" is never made up by another
  // holder: five of these waited forever when a "have" could overtake its connection's bitfield.
  test("downloaders starting over a second on them all finish (no message overtakes a bitfield)", () => {
    const hosts = flashCrowd({ peers: 100, sourceBits: LAN, peerBits: () => LAN });
    const r = simulateSwarm({
      sizeBytes: F,
      hosts,
      seed: 1,
      stripeTrees: 4,
      startSpreadMs: 1000,
      limitMs: 60_000,
    });
    expect(r.finishMs.filter((t) => t === undefined).length).toBe(0);
    expect(r.startMs.length).toBe(100);
    expect(Math.max(...r.startMs)).toBeGreaterThan(500);
  });

  test("the simulator refuses stripe trees over a swarm with pieces outside the source", () => {
    const hosts = flashCrowd({ peers: 8, sourceBits: LAN, peerBits: () => LAN });
    const seeded = hosts.map((h, i) => (i === 3 ? { ...h, have: [0, 1] } : h));
    expect(() => simulateSwarm({ sizeBytes: F, hosts: seeded, seed: 1, stripeTrees: 4 })).toThrow(
      "hosts[0] must be the only host with pieces",
    );
  });
});
