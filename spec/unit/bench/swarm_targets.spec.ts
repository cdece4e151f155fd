// spec/unit/bench/swarm_targets.spec.ts: the swarm benches judge the targets from what
// they measured, and say so when a run did not measure what a target needs.
import { describe, expect, test } from "bun:test";
import { labVerdicts, simVerdicts, verdictLines } from "../../../bench/swarm_targets.ts";

// The lab run of 2026-12-04 18:22 (bench/results/2026-12-04T18-22-38-169Z-swarm-lab.json).
const lab = [
  { peers: 4, equal: true, oursS: 5.72, oursOverAria2c: 5.72 / 8.17, oursOverBound: 1.056 },
  { peers: 8, equal: true, oursS: 6.22, oursOverAria2c: 6.22 / 9.24, oursOverBound: 1.148 },
  { peers: 16, equal: true, oursS: 6.83, oursOverAria2c: 6.83 / 13.88, oursOverBound: 1.261 },
  { peers: 8, equal: false, oursS: 29.31, oursOverAria2c: 29.31 / 35.83, oursOverBound: 1.082 },
];

describe("swarm targets", () => {
  test("the lab: 1.2x the bound and 0.6x aria2c at 8 and 16 peers, 16 within 1.1x of 4", () => {
    expect(labVerdicts(lab).map((v) => [v.target, v.figure, v.pass])).toEqual([
      ["ours <= 1.2x the bound, 8 peers", "1.15x", true],
      ["ours <= 0.6x aria2c's time, 8 peers", "0.67x", false],
      ["ours <= 1.2x the bound, 16 peers", "1.26x", false],
      ["ours <= 0.6x aria2c's time, 16 peers", "0.49x", true],
      ["time at 16 peers <= 1.1x time at 4 peers", "1.19x", false],
    ]);
  });

  test("the lab: an --ours-only run, or one without 4 peers, leaves those targets unjudged", () => {
    const oursOnly = lab.filter((r) => r.peers !== 4).map((r) => ({ ...r, oursOverAria2c: Number.NaN }));
    const v = labVerdicts(oursOnly);
    expect(v.filter((x) => x.pass === undefined).map((x) => x.figure)).toEqual([
      "not measured (--ours-only)",
      "not measured (--ours-only)",
      "not measured (needs the 4- and 16-peer cases)",
    ]);
    // The mixed case never stands in for the equal one.
    expect(labVerdicts([lab[3]!]).every((x) => x.pass === undefined)).toBe(true);
    expect(verdictLines(v).at(-1)).toBe("targets met: 1 of 2");
  });

  test("the simulator: 1.15x at 100 peers, 1.3x at 1,000, every mixed case within 1.3x of its own bound", () => {
    const v = simVerdicts([
      { peers: 100, equal: true, case: "equal", ratio: 1.201 },
      { peers: 1000, equal: true, case: "equal", ratio: 1.22 },
      { peers: 1000, equal: false, case: "fast source", ratio: 1.27 },
      { peers: 100, equal: false, case: "slow half", ratio: 1.31 },
    ]);
    expect(v.map((x) => [x.figure, x.pass])).toEqual([
      ["1.20x", false],
      ["1.22x", true],
      ["1.27x", true],
      ["1.31x", false],
    ]);
    expect(v[3]?.target).toBe("slow half, 100 peers: <= 1.3x its own bound");
    const lines = verdictLines(v);
    expect(lines[0]).toMatch(/^ {2}equal links, 100 peers: <= 1\.15x the bound +1\.20x {2}MISSED$/);
    expect(lines.at(-1)).toBe("targets met: 2 of 4");
  });

  test("the simulator: a swarm some of whose peers never finished misses its target", () => {
    const v = simVerdicts([
      { peers: 100, equal: true, case: "equal", ratio: Infinity },
      { peers: 100, equal: false, case: "slow half", ratio: Infinity },
    ]);
    expect(v.map((x) => [x.figure, x.pass])).toEqual([
      ["some peer never finished", false],
      ["not measured (--peers)", undefined],
      ["some peer never finished", false],
    ]);
  });
});
