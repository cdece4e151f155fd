import { describe, expect, test } from "bun:test";
import { describeLinks, type LinkTimeline, sampleLinks, summarise } from "../../../bench/link_timeline.ts";
import { waitUntil } from "../../helpers/wait.ts";

const timeline = (peersDown: number[], sourceUp: number[]): LinkTimeline => ({
  everyMs: 100,
  sourceUp,
  peersUp: peersDown.map(() => 0.5),
  peersDown,
});

describe("link timeline", () => {
  test("the fill time is the end of the first sample at 90%; the means stop at the first finish", () => {
    const t = timeline([0.2, 0.6, 0.95, 0.9, 1.0, 0.3, 0.1], [1, 1, 0.5, 1, 1, 0, 0]);
    const s = summarise(t, 0.5); // samples 0..4 count; the swarm empties after
    expect(s.filledS).toBeCloseTo(0.3);
    expect(s.downAfterFill).toBeCloseTo(0.95); // samples 3 and 4
    expect(s.sourceUp).toBeCloseTo(0.9);
    expect(describeLinks(s)).toBe(
      "downlinks 90% full after 0.30 s, then 95% on average; the source's uplink 90% (up to the first finish)",
    );
  });

  test("downlinks that never fill before the first finish say so", () => {
    const s = summarise(timeline([0.5, 0.8, 0.99], [0.7, 0.7, 0.7]), 0.2);
    expect(s.filledS).toBeUndefined();
    expect(describeLinks(s)).toStartWith("downlinks never 90% full on average; the source's uplink 70%");
  });

  test("samples turn byte counters into shares of each host's capacity", async () => {
    // Host 0 (the source) sends 1,000 bytes per ms of a 1,000,000 B/s link; hosts 1 and 2
    // receive half that each. Each read is 20 ms of a clock of the test's own.
    let ms = 0;
    const read = () => {
      ms += 20;
      return { sent: [ms * 1000, 0, 0], received: [0, ms * 500, ms * 250] };
    };
    const sampler = sampleLinks(read, [1e6, 1e6, 1e6], 2, 5, () => ms);
    // Two samples, however late a loaded machine runs the timer (a fixed 40 ms once gave one).
    await waitUntil(() => ms >= 60, { intervalMs: 5, what: "two samples" });
    const t = sampler.stop();
    expect(t.sourceUp.length).toBeGreaterThanOrEqual(2);
    for (const x of t.sourceUp) expect(x).toBeCloseTo(1);
    for (const x of t.peersDown) expect(x).toBeCloseTo(0.375); // (0.5 + 0.25) / 2
    for (const x of t.peersUp) expect(x).toBe(0);
    // Stopped means stopped (the lab's ports go away after it), and stopping again is harmless.
    const samples = t.sourceUp.length;
    const reads = ms;
    await Bun.sleep(20);
    expect(sampler.stop().sourceUp.length).toBe(samples);
    expect(ms).toBe(reads);
  });
});
