// Summaries of repeated measurements: median with min and max, percentiles. Pure: no I/O.

/** A figure measured several times: its median, the extremes, and every run in order. */
export interface Summary {
  median: number;
  min: number;
  max: number;
  runs: number[];
}

/** Median, min and max of `runs` (at least one value). */
export function summarize(runs: readonly number[]): Summary {
  if (runs.length === 0) throw new Error("summarize needs at least one run");
  const sorted = [...runs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]!, runs: [...runs] };
}

/** The `p`-th percentile (0..100) of ascending `sorted`, nearest-rank: a value that occurred. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

/** p50 and p99 of unsorted samples. */
export function latencyPercentiles(samples: readonly number[]): { p50: number; p99: number; count: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), count: sorted.length };
}

/** Applies `f` to every run of a summary (unit conversions: seconds to MiB/s and the like). */
export function mapSummary(s: Summary, f: (v: number) => number): Summary {
  return summarize(s.runs.map(f));
}
