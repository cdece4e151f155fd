// Hybrid logical clock stamps: wall-clock milliseconds, a counter, and the tracker's number. Pure.

/** A point in the cluster's total order of operations. */
export interface Stamp {
  wall: number;
  count: number;
  node: number;
}

export const ZERO_STAMP: Stamp = { wall: 0, count: 0, node: 0 };

/** Total order on stamps; equal wall clocks are normal, so the counter then the node break ties. */
export function compareStamps(a: Stamp, b: Stamp): number {
  return a.wall - b.wall || a.count - b.count || a.node - b.node;
}

/** The larger of two stamps. */
export function maxStamp(a: Stamp, b: Stamp): Stamp {
  return compareStamps(a, b) >= 0 ? a : b;
}

/** Issues strictly increasing stamps that also exceed every stamp it has observed. */
export class Clock {
  readonly node: number;
  #last: Stamp;

  constructor(node: number, last: Stamp = ZERO_STAMP) {
    this.node = node;
    this.#last = last;
  }

  /** The latest stamp issued or observed. */
  get last(): Stamp {
    return this.#last;
  }

  /** A new stamp above everything seen; `nowMs` is the caller's wall clock. */
  tick(nowMs: number): Stamp {
    const last = this.#last;
    const next =
      nowMs > last.wall
        ? { wall: nowMs, count: 0, node: this.node }
        : { wall: last.wall, count: last.count + 1, node: this.node };
    this.#last = next;
    return next;
  }

  /** Moves past a remote stamp, so that later local stamps order after it. */
  observe(stamp: Stamp): void {
    if (compareStamps(stamp, this.#last) > 0) this.#last = stamp;
  }
}
