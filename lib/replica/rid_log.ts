// The request ids a state remembers, oldest first, with the outcome each got. Pure.
// Kept as a chain of small maps rather than one big one: the newest is written at every
// operation and the oldest trimmed as ids expire, while the ones between are never written
// again. The collector rescans a written container at each young collection, and with one Map
// of 200,000 ids that rescan grew every young-generation pause of a busy tracker to 3.5 ms.

/** The outcome remembered for a client's request id, so a retry reports it again. */
export interface RememberedOutcome {
  ok: boolean;
  reason?: string;
  wall: number;
}

/** Ids per map in the chain: small enough to rescan quickly, few enough maps to look through. */
const CHUNK_IDS = 16_384;

export class RidLog {
  #chunks: Map<string, RememberedOutcome>[] = [];
  #size = 0;

  get size(): number {
    return this.#size;
  }

  get(rid: string): RememberedOutcome | undefined {
    for (let i = this.#chunks.length - 1; i >= 0; i--) {
      const found = this.#chunks[i]?.get(rid);
      if (found) return found;
    }
    return undefined;
  }

  has(rid: string): boolean {
    return this.get(rid) !== undefined;
  }

  /** Remembers a new id (the caller checks it is not held) after every id held. */
  add(rid: string, outcome: RememberedOutcome): void {
    let last = this.#chunks[this.#chunks.length - 1];
    if (!last || last.size >= CHUNK_IDS) {
      last = new Map();
      this.#chunks.push(last);
    }
    last.set(rid, outcome);
    this.#size++;
  }

  /** Forgets the oldest ids, in order, while their wall time is before `wall`. */
  expireBefore(wall: number): void {
    for (let first = this.#chunks[0]; first !== undefined; first = this.#chunks[0]) {
      for (const [rid, o] of first) {
        if (o.wall >= wall) return;
        first.delete(rid);
        this.#size--;
      }
      this.#chunks.shift();
    }
  }

  /** Every id held, oldest first. */
  *entries(): IterableIterator<[string, RememberedOutcome]> {
    for (const chunk of this.#chunks) yield* chunk;
  }

  clone(): RidLog {
    const copy = new RidLog();
    copy.#chunks = this.#chunks.map((chunk) => new Map(chunk));
    copy.#size = this.#size;
    return copy;
  }
}
