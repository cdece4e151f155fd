// spec/unit/download/swarm_sim.spec.ts: the real DownloadCore and ServeQueue on simulated swarms:
// every peer finishes, no bad piece is ever written, a swarm without a source completes from
// its parts, runs replay exactly from a seed, and flash crowds of 8 and 64 finish within a margin
// of the bound. Those times are simulated (one seed, no clock: the same on any machine, however
// loaded), so they can be held to a limit; `npm run bench -- swarm-sim` reports the full table.
import { describe, expect, test } from "bun:test";
import { flashCrowd, kumarRossBoundMs, type SimHost, simulateSwarm } from "../../../bench/swarm_sim.ts";
import { PIECE_BYTES } from "../../../lib/pieces/constants.ts";

const F = 64 * 2 ** 20; // 128 pieces
const LAN = 100e6;

function summary(peers: number, finishMs: (number | undefined)[], boundMs: number): string {
  const done = finishMs.filter((t): t is number => t !== undefined);
  return `${peers} peers: ${done.length} finished, last at ${(Math.max(...done) / boundMs).toFixed(2)}x the bound`;
}

describe("swarm simulator", () => {
  test("the Kumar-Ross bound: the slowest of source uplink, slowest downlink and total uplink", () => {
    const hosts = flashCrowd({ peers: 8, sourceBits: LAN, peerBits: () => LAN });
    expect(kumarRossBoundMs(F, hosts)).toBeCloseTo((F / (LAN / 8)) * 1000, 6);
    const slowDown = flashCrowd({
      peers: 8,
      sourceBits: 10 * LAN,
      peerBits: (i) => (i === 0 ? LAN / 5 : LAN),
    });
    expect(kumarRossBoundMs(F, slowDown)).toBeCloseTo((F / (LAN / 40)) * 1000, 6);
    // Peers with a tenth of the uplink (and the whole downlink): their total uplink is the limit.
    const many = flashCrowd({ peers: 100, sourceBits: LAN, peerBits: () => LAN / 10 }).map((h, i) =>
      i === 0 ? h : { ...h, downBps: LAN / 8 },
    );
    expect(kumarRossBoundMs(F, many)).toBeCloseTo(((100 * F) / ((LAN + 10 * LAN) / 8)) * 1000, 6);
  });

  // The last peer's time over the bound, at most: seed 7 gives 1.112x and 1.163x; without
  // forwarding 1.135x and 1.283x, without super-seeding 1.227x and 1.246x, without both 1.373x
  // and 1.440x. A change that costs more than about 3% here should be looked at, not let by.
  test.each([
    [8, 1.15],
    [64, 1.2],
  ])(
    "a flash crowd of %d peers on equal 100 Mbit/s links all finish within %dx the bound, with nothing bad written",
    (peers, limit) => {
      const hosts = flashCrowd({ peers, sourceBits: LAN, peerBits: () => LAN });
      const r = simulateSwarm({ sizeBytes: F, hosts, seed: 7 });
      console.log(`swarm sim: ${summary(peers, r.finishMs, r.boundMs)}`);
      expect(r.finishMs.every((t) => t !== undefined && t >= r.boundMs)).toBe(true);
      expect(Math.max(...r.finishMs.map((t) => t ?? Infinity)) / r.boundMs).toBeLessThan(limit);
      expect({ gaveUp: r.gaveUp, badWritten: r.badWritten, early: r.arrivedBeforeSenderHad }).toEqual({
        gaveUp: 0,
        badWritten: 0,
        early: 0,
      });
      // The source's uplink mostly carries pieces nobody has yet: well under twice each piece,
      // and (super-seeding) almost never a piece twice while another never left it.
      expect(r.sourceUploads).toBeLessThan(2 * (F / PIECE_BYTES));
      // Under a tenth of the pieces (5 to 10 over seeds 1 to 8 at 64 peers, all in the last few
      // pieces' time; 35 to 51 without super-seeding).
      console.log(`  source repeats before every piece left once: ${r.sourceRepeatsEarly}`);
      expect(r.sourceRepeatsEarly).toBeLessThan(F / PIECE_BYTES / 10);
    },
    60_000,
  );

  // Seed 7: 1.218x; 2.226x when a downloader fetched in return only within maxPeers (the first
  // to start filled their places with each other, and the last ones' uplinks idled).
  test("a flash crowd of 64 starting over half a second finishes within 1.35x the bound", () => {
    const hosts = flashCrowd({ peers: 64, sourceBits: LAN, peerBits: () => LAN });
    const r = simulateSwarm({ sizeBytes: F, hosts, seed: 7, startSpreadMs: 500 });
    console.log(`swarm sim, starts over 0.5 s: ${summary(64, r.finishMs, r.boundMs)}`);
    expect(r.finishMs.every((t) => t !== undefined)).toBe(true);
    expect(Math.max(...r.finishMs.map((t) => t ?? Infinity)) / r.boundMs).toBeLessThan(1.35);
    expect(r.badWritten).toBe(0);
  });

  test("lying peers never get a bad piece written, and everyone still finishes", () => {
    const hosts: SimHost[] = flashCrowd({ peers: 12, sourceBits: LAN, peerBits: () => LAN });
    // Two liars that claim the whole file and send garbage for every piece they are asked for.
    for (let i = 0; i < 2; i++)
      hosts.push({ upBps: LAN / 8, downBps: LAN / 8, latencyMs: 0.25, have: "all", liar: true });
    const r = simulateSwarm({ sizeBytes: F, hosts, seed: 3 });
    expect(r.badReceived).toBeGreaterThan(0); // they were asked, and lied
    expect(r.badWritten).toBe(0);
    expect(r.finishMs.every((t) => t !== undefined)).toBe(true);
  });

  test("without any source, a swarm whose peers each hold some pieces (together all) completes", () => {
    const pieces = F / PIECE_BYTES;
    const hosts: SimHost[] = Array.from({ length: 6 }, (_, i) => ({
      upBps: LAN / 8,
      downBps: LAN / 8,
      latencyMs: 0.5,
      have: Array.from({ length: pieces }, (_, p) => p).filter((p) => p % 6 === i),
    }));
    const r = simulateSwarm({ sizeBytes: F, hosts, seed: 11 });
    expect(r.finishMs.every((t) => t !== undefined)).toBe(true);
    expect(r.badWritten).toBe(0);
  });

  test("pieces nobody holds: the downloaders give up after the give-up time instead of waiting forever", () => {
    const hosts: SimHost[] = [0, 1, 2].map((i) => ({
      upBps: LAN / 8,
      downBps: LAN / 8,
      latencyMs: 0.5,
      have: i === 0 ? [0, 1] : [],
    }));
    const r = simulateSwarm({ sizeBytes: 4 * PIECE_BYTES, hosts, seed: 5 });
    expect(r.gaveUp).toBe(3);
  });

  describe("cut-through: pieces forwarded while they arrive", () => {
    test("no piece reaches a downloader before its sender held it, and a crowd of 10 finishes sooner", () => {
      const hosts = flashCrowd({ peers: 10, sourceBits: LAN, peerBits: () => LAN });
      const stored = simulateSwarm({ sizeBytes: F, hosts, seed: 1, cutThrough: false });
      const cut = simulateSwarm({ sizeBytes: F, hosts, seed: 1 });
      console.log(`swarm sim, cut-through: ${summary(10, cut.finishMs, cut.boundMs)}`);
      expect(cut.finishMs.every((t) => t !== undefined && t >= cut.boundMs)).toBe(true);
      expect({ badWritten: cut.badWritten, early: cut.arrivedBeforeSenderHad }).toEqual({
        badWritten: 0,
        early: 0,
      });
      const last = (r: typeof cut) => Math.max(...r.finishMs.map((t) => t ?? Infinity));
      expect(last(cut)).toBeLessThan(last(stored));
    });

    test("a liar's garbage forwarded on is sent again from the forwarder's good copy; nothing bad is written", () => {
      const hosts: SimHost[] = flashCrowd({ peers: 12, sourceBits: LAN, peerBits: () => LAN });
      for (let i = 0; i < 2; i++)
        hosts.push({ upBps: LAN / 8, downBps: LAN / 8, latencyMs: 0.25, have: "all", liar: true });
      const r = simulateSwarm({ sizeBytes: F, hosts, seed: 3 });
      expect(r.badReceived).toBeGreaterThan(0);
      expect(r.forwardsRestarted).toBeGreaterThan(0);
      expect({ badWritten: r.badWritten, early: r.arrivedBeforeSenderHad }).toEqual({
        badWritten: 0,
        early: 0,
      });
      expect(r.finishMs.every((t) => t !== undefined)).toBe(true);
    });
  });

  test("the same seed replays the same run; another seed gives another", () => {
    const hosts = flashCrowd({ peers: 8, sourceBits: LAN, peerBits: (i) => (i % 2 ? LAN : LAN / 5) });
    const a = simulateSwarm({ sizeBytes: F, hosts, seed: 42, startSpreadMs: 500 });
    const b = simulateSwarm({ sizeBytes: F, hosts, seed: 42, startSpreadMs: 500 });
    const c = simulateSwarm({ sizeBytes: F, hosts, seed: 43, startSpreadMs: 500 });
    expect(b.finishMs).toEqual(a.finishMs);
    expect(b.events).toBe(a.events);
    expect(c.finishMs).not.toEqual(a.finishMs);
  }, 30_000);
});
