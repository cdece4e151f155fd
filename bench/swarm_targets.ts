// bench/swarm_targets.ts: the swarm's targets (issue "The swarm: a flash crowd finishes near
// the physical bound, whatever its size"), judged from the rows the two swarm benches measure.
// Pure: rows in, verdicts out; the benches print them and put them in their JSON.
import { targetsMet, verdictWord } from "./table.ts";

/** One target: what it asks, the figure measured, and whether the figure meets it. */
export interface Verdict {
  target: string;
  /** The measured figure as printed ("1.26x"), or why there is none. */
  figure: string;
  /** Undefined when this run did not measure what the target needs. */
  pass: boolean | undefined;
}

/** What the lab bench measures per case, as far as the targets go. */
export interface LabRow {
  peers: number;
  /** Every link at 100 Mbit/s (not the mixed case). */
  equal: boolean;
  oursS: number;
  /** NaN with `--ours-only` (no aria2c run). */
  oursOverAria2c: number;
  oursOverBound: number;
}

/** What the simulator bench measures per case and size. */
export interface SimRow {
  peers: number;
  /** Source and peers on equal links (not one of the mixed cases). */
  equal: boolean;
  case: string;
  /** The last peer's finish over the case's own bound; Infinity when some peer never finished. */
  ratio: number;
}

const ratio = (x: number) => `${x.toFixed(2)}x`;

/** `value` (a ratio) against `limit`; undefined or NaN is not measured, Infinity never finished. */
function atMost(target: string, value: number | undefined, limit: number, missing: string): Verdict {
  if (value === undefined || Number.isNaN(value)) return { target, figure: missing, pass: undefined };
  if (value === Infinity) return { target, figure: "some peer never finished", pass: false };
  return { target, figure: ratio(value), pass: value <= limit };
}

/**
 * The real lab's targets: at most 1.2x the bound and 0.6x aria2c's time at N = 8 and 16, and
 * N = 16 within 1.1x of N = 4 (equal links, one run).
 */
export function labVerdicts(rows: readonly LabRow[]): Verdict[] {
  const at = (n: number) => rows.find((r) => r.equal && r.peers === n);
  const out: Verdict[] = [];
  for (const n of [8, 16]) {
    const r = at(n);
    const notRun = `not measured (no ${n}-peer case in this run)`;
    out.push(atMost(`ours <= 1.2x the bound, ${n} peers`, r?.oursOverBound, 1.2, notRun));
    out.push(
      atMost(
        `ours <= 0.6x aria2c's time, ${n} peers`,
        r?.oursOverAria2c,
        0.6,
        r ? "not measured (--ours-only)" : notRun,
      ),
    );
  }
  const four = at(4);
  const sixteen = at(16);
  out.push(
    atMost(
      "time at 16 peers <= 1.1x time at 4 peers",
      four && sixteen ? sixteen.oursS / four.oursS : undefined,
      1.1,
      "not measured (needs the 4- and 16-peer cases)",
    ),
  );
  return out;
}

/**
 * The simulator's targets: equal links within 1.15x the bound at 100 peers and 1.3x at 1,000;
 * every mixed case within 1.3x of its own bound, at every size run.
 */
export function simVerdicts(rows: readonly SimRow[]): Verdict[] {
  const equalAt = (n: number) => rows.find((r) => r.equal && r.peers === n)?.ratio;
  const out: Verdict[] = [
    atMost("equal links, 100 peers: <= 1.15x the bound", equalAt(100), 1.15, "not measured (--peers)"),
    atMost("equal links, 1000 peers: <= 1.3x the bound", equalAt(1000), 1.3, "not measured (--peers)"),
  ];
  for (const r of rows)
    if (!r.equal)
      out.push(atMost(`${r.case}, ${r.peers} peers: <= 1.3x its own bound`, r.ratio, 1.3, "not measured"));
  return out;
}

/** The verdicts as lines to print, ending with how many were met of those measured. */
export function verdictLines(verdicts: readonly Verdict[]): string[] {
  const width = Math.max(...verdicts.map((v) => v.target.length));
  const lines = verdicts.map((v) =>
    `  ${v.target.padEnd(width)}  ${v.figure}  ${verdictWord(v.pass)}`.trimEnd(),
  );
  lines.push(targetsMet(verdicts.map((v) => v.pass)));
  return lines;
}
