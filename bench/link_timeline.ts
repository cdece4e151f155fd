// bench/link_timeline.ts: how busy the swarm lab's links are over a run, sampled from the
// byte counters of each host's bridge port (no process in the hosts, nothing on the wire), and
// where a run's time goes: how long the downlinks take to fill, how full they stay, and
// whether the source's uplink, the one link a flash crowd cannot do without, ever waits.

/** Bytes each host has sent and received so far, in host order. */
export interface LinkBytes {
  sent: number[];
  received: number[];
}

/** Link use per sample, as a share of each link's capacity (1 = full). */
export interface LinkTimeline {
  everyMs: number;
  /** The source's (host 0's) uplink. */
  sourceUp: number[];
  /** The downloaders' uplinks and downlinks, averaged over them. */
  peersUp: number[];
  peersDown: number[];
}

/** What a timeline says, up to the first downloader's finish (after it, the swarm empties). */
export interface TimelineSummary {
  /** Seconds until the downloaders' downlinks were first 90% full on average; undefined if never. */
  filledS: number | undefined;
  /** Mean downlink use from then to the first finish. */
  downAfterFill: number;
  /** Mean use of the source's uplink until the first finish. */
  sourceUp: number;
}

const FULL = 0.9;

/** A running sampler; `stop()` ends it (again is harmless) and returns what it sampled. */
export interface LinkSampler {
  stop: () => LinkTimeline;
}

/**
 * Samples `read()` every `everyMs` from now until `stop()`. `capacity[i]`: host i's link
 * rate in bytes per second (both ways); host 0 is the source, hosts 1..peers download.
 * `clock`: milliseconds, read right after each `read()`.
 */
export function sampleLinks(
  read: () => LinkBytes,
  capacity: readonly number[],
  peers: number,
  everyMs = 100,
  clock: () => number = () => performance.now(),
): LinkSampler {
  const timeline: LinkTimeline = { everyMs, sourceUp: [], peersUp: [], peersDown: [] };
  let last = read();
  let lastAt = clock();
  const timer = setInterval(() => {
    const now = read();
    const at = clock();
    const seconds = (at - lastAt) / 1000;
    const use = (counts: number[], before: number[], i: number) =>
      ((counts[i] ?? 0) - (before[i] ?? 0)) / seconds / (capacity[i] ?? Infinity);
    let up = 0;
    let down = 0;
    for (let i = 1; i <= peers; i++) {
      up += use(now.sent, last.sent, i);
      down += use(now.received, last.received, i);
    }
    timeline.sourceUp.push(use(now.sent, last.sent, 0));
    timeline.peersUp.push(up / peers);
    timeline.peersDown.push(down / peers);
    last = now;
    lastAt = at;
  }, everyMs);
  return {
    stop: () => {
      clearInterval(timer);
      return timeline;
    },
  };
}

/** Summarises `t` up to `firstDoneS`, the first downloader's finish. */
export function summarise(t: LinkTimeline, firstDoneS: number): TimelineSummary {
  const upTo = Math.min(t.peersDown.length, Math.floor((firstDoneS * 1000) / t.everyMs));
  const mean = (xs: number[]) => (xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length);
  const filled = t.peersDown.slice(0, upTo).findIndex((x) => x >= FULL);
  return {
    filledS: filled < 0 ? undefined : ((filled + 1) * t.everyMs) / 1000,
    downAfterFill: filled < 0 ? 0 : mean(t.peersDown.slice(filled + 1, upTo)),
    sourceUp: mean(t.sourceUp.slice(0, upTo)),
  };
}

/** One line: "downlinks 90% full after 0.50 s, then 97% on average; the source's uplink 99%". */
export function describeLinks(s: TimelineSummary): string {
  const pct = (x: number) => `${Math.round(x * 100)}%`;
  const fill =
    s.filledS === undefined
      ? `downlinks never ${pct(FULL)} full on average`
      : `downlinks ${pct(FULL)} full after ${s.filledS.toFixed(2)} s, then ${pct(s.downAfterFill)} on average`;
  return `${fill}; the source's uplink ${pct(s.sourceUp)} (up to the first finish)`;
}
