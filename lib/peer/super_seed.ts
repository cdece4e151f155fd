// lib/peer/super_seed.ts: what a file's first seeder shows each downloader while the swarm has
// no other copy of some piece. Pure: no I/O; the server (and the swarm simulator) carry it out.
//
// A seeder that shows everything to everyone gets asked for the same pieces by many
// downloaders (each picks the rarest it sees, and at the start every piece is as rare), so its
// uplink, the swarm's scarcest resource, carries pieces several times (190 sends for 128
// pieces at 100 peers in the simulator). Instead, each connection is shown a few pieces that
// nobody has been sent yet, one more each time one of them goes out; downloaders pass those on
// among themselves. Once every piece has left once, everything is shown to everyone and the
// seeder serves like any other (least-sent first, lib/peer/serve_queue.ts).
import { Bitfield } from "../pieces/bitfield.ts";

/** Options for `SuperSeed`. */
export interface SuperSeedOptions {
  /**
   * Pieces shown to a connection and not yet sent on it: two, so that the downloader's next
   * request is queued here while the current piece is being sent and the uplink never waits
   * a round trip.
   */
  offersPerConnection: number;
  /**
   * Sends (on any connection), or seconds of the shell's `tick`, after which an offer nobody
   * asked for is stale: the piece is then offered to other connections too. Until then no
   * piece is offered twice, so the source's uplink never carries a piece twice while another
   * was never sent (in the simulator, 100 peers: 16 duplicate sends, 0.7 s, when offers were
   * shared at once); past it, a downloader that stopped asking cannot keep a piece from the
   * swarm.
   */
  staleAfterSends: number;
}

export const DEFAULT_SUPER_SEED_OPTIONS: SuperSeedOptions = {
  offersPerConnection: 2,
  staleAfterSends: 8,
};

/** What to tell connections: `have` for these pieces (in this order). */
export interface Reveal<C> {
  conn: C;
  indexes: number[];
  /** With these, `conn` is shown every piece (one message can say so instead of many). */
  all?: true;
}

/** One file's super-seeding over all the connections that download it from us. */
export class SuperSeed<C> {
  #count: number;
  #offers: number;
  #staleAfter: number;
  /** Pieces neither sent nor on offer anywhere. */
  #free: number;
  /** Sends and ticks so far: the clock that ages offers. */
  #sends = 0;
  /** The send count when each piece was last put on offer. */
  #offeredAt: Uint32Array;
  #sentOnce: Bitfield;
  #sentCount = 0;
  /** Per connection: the pieces it was shown (offers first, then everything once revealed). */
  #shown = new Map<C, { bits: Bitfield; open: Set<number> }>();
  /** Times each piece is on offer right now, over all connections. */
  #offered: Uint32Array;
  /**
   * Where the search for a piece nobody was offered continues: offers go in file order from
   * the first piece, wrapping, the order in which every downloader hashes the whole file. From
   * a random start (so that two seeders of one file would offer apart) the pieces before it
   * came last, and each of 16 downloaders in the lab hashed 106-121 of its 128 pieces after the
   * last one arrived, 200-250 ms each at once; from the first, 18-42. Two seeders that each
   * shared the file now show a downloader the same first pieces; it takes each from one of them
   * and declines what it fetches elsewhere.
   */
  #cursor = 0;

  constructor(pieceCount: number, options: Partial<SuperSeedOptions> = {}) {
    const o = { ...DEFAULT_SUPER_SEED_OPTIONS, ...options };
    if (!Number.isSafeInteger(o.offersPerConnection) || o.offersPerConnection < 1)
      throw new RangeError(
        `Invalid "offersPerConnection": expected a positive integer: got ${o.offersPerConnection}`,
      );
    this.#count = pieceCount;
    if (!(o.staleAfterSends >= 0))
      throw new RangeError(
        `Invalid "staleAfterSends": expected a non-negative number: got ${o.staleAfterSends}`,
      );
    this.#offers = o.offersPerConnection;
    this.#staleAfter = o.staleAfterSends;
    this.#free = pieceCount;
    this.#offeredAt = new Uint32Array(pieceCount);
    this.#sentOnce = new Bitfield(pieceCount);
    this.#offered = new Uint32Array(pieceCount);
  }

  /** True until every piece has been sent once: only then does everyone see everything. */
  get active(): boolean {
    return this.#sentCount < this.#count;
  }

  /** A new connection: the bitfield to show it (everything once super-seeding is over). */
  open(conn: C): Bitfield {
    const bits = new Bitfield(this.#count);
    if (!this.active) {
      for (let i = 0; i < this.#count; i++) bits.set(i);
      return bits;
    }
    const shown = { bits, open: new Set<number>() };
    this.#shown.set(conn, shown);
    for (const index of this.#pick(shown.bits, this.#offers)) this.#offer(shown, index);
    return bits;
  }

  /**
   * Forgets a connection; its offers go back to the pool, and to the connections left short of
   * offers. Without that, a small file's pieces all on offer to one downloader that then went
   * away stayed hidden from every other: nothing more was sent, so nothing was ever offered
   * again (the soak found two downloads waiting on a live, complete, silent seeder).
   */
  close(conn: C): Reveal<C>[] {
    const shown = this.#shown.get(conn);
    if (!shown) return [];
    for (const index of shown.open) this.#unoffer(index);
    this.#shown.delete(conn);
    const out: Reveal<C>[] = [];
    if (shown.open.size > 0) this.#replenishShort(out);
    return out;
  }

  /**
   * Piece `index` went out on `conn`: what every connection must be told now. Usually one new
   * offer to `conn`; when this was the last piece never sent, every piece to everyone.
   */
  sent(conn: C, index: number): Reveal<C>[] {
    if (!this.active) return [];
    this.#sends++;
    const shown = this.#shown.get(conn);
    if (shown?.open.delete(index)) this.#unoffer(index);
    this.#markSent(index);
    if (!this.active) return this.#revealAll();
    const out: Reveal<C>[] = [];
    if (shown) this.#replenish(conn, shown, out);
    this.#replenishShort(out);
    return out;
  }

  /**
   * The downloader on `conn` wants none of its offers: it has them, or fetches them from
   * others, so the swarm holds a copy of each. They count as sent; `conn` gets fresh offers.
   */
  declined(conn: C): Reveal<C>[] {
    const shown = this.#shown.get(conn);
    if (!this.active || !shown) return [];
    for (const index of shown.open) {
      this.#unoffer(index);
      this.#markSent(index);
    }
    shown.open.clear();
    if (!this.active) return this.#revealAll();
    const out: Reveal<C>[] = [];
    this.#replenish(conn, shown, out);
    return out;
  }

  /**
   * Connections left short of offers (every unsent piece was on offer elsewhere) get pieces that
   * came free or whose offers went stale.
   */
  #replenishShort(out: Reveal<C>[]): void {
    for (const [conn, shown] of this.#shown)
      if (shown.open.size < this.#offers && !out.some((r) => r.conn === conn))
        this.#replenish(conn, shown, out);
  }

  /**
   * A second went by (the shell calls this once a second): offers age as with a send, so that
   * those held by a downloader that neither asks nor leaves go stale while nothing is sent, and
   * the connections short of offers get them. Without it a small file, all on offer to one
   * such downloader, would stay hidden from every other.
   */
  tick(): Reveal<C>[] {
    if (!this.active) return [];
    this.#sends++;
    const out: Reveal<C>[] = [];
    this.#replenishShort(out);
    return out;
  }

  #replenish(conn: C, shown: { bits: Bitfield; open: Set<number> }, out: Reveal<C>[]): void {
    const fresh = this.#pick(shown.bits, this.#offers - shown.open.size);
    for (const i of fresh) this.#offer(shown, i);
    if (fresh.length > 0) out.push({ conn, indexes: fresh });
  }

  #markSent(index: number): void {
    if (!this.#sentOnce.set(index)) return;
    this.#sentCount++;
    if ((this.#offered[index] ?? 0) === 0) this.#free--;
  }

  #unoffer(index: number): void {
    const left = (this.#offered[index] ?? 1) - 1;
    this.#offered[index] = left;
    if (left === 0 && !this.#sentOnce.has(index)) this.#free++;
  }

  #offer(shown: { bits: Bitfield; open: Set<number> }, index: number): void {
    shown.bits.set(index);
    shown.open.add(index);
    if ((this.#offered[index] ?? 0) === 0) {
      this.#free--;
      this.#offeredAt[index] = this.#sends;
    }
    this.#offered[index] = (this.#offered[index] ?? 0) + 1;
  }

  /**
   * Up to `n` pieces not shown in `bits`, never sent: first those on offer nowhere (in index
   * order), then those whose offers went stale, least offered first.
   */
  #pick(bits: Bitfield, n: number): number[] {
    const out: number[] = [];
    if (n <= 0) return out;
    const from = this.#cursor;
    for (let k = 0; k < this.#count && out.length < n && this.#free > out.length; k++) {
      const i = (from + k) % this.#count;
      if (this.#sentOnce.has(i) || bits.has(i) || (this.#offered[i] ?? 0) > 0) continue;
      out.push(i);
      this.#cursor = (i + 1) % this.#count;
    }
    if (out.length === n || this.#sends < this.#staleAfter) return out;
    const staleBefore = this.#sends - this.#staleAfter;
    while (out.length < n) {
      let best = -1;
      for (let i = 0; i < this.#count; i++) {
        if (this.#sentOnce.has(i) || bits.has(i) || out.includes(i)) continue;
        if ((this.#offered[i] ?? 0) === 0 || (this.#offeredAt[i] ?? 0) > staleBefore) continue;
        if (best < 0 || (this.#offered[i] ?? 0) < (this.#offered[best] ?? 0)) best = i;
      }
      if (best < 0) break;
      out.push(best);
    }
    return out;
  }

  #revealAll(): Reveal<C>[] {
    const out: Reveal<C>[] = [];
    for (const [conn, shown] of this.#shown) {
      const indexes: number[] = [];
      for (let i = 0; i < this.#count; i++) if (!shown.bits.has(i)) indexes.push(i);
      if (indexes.length > 0) out.push({ conn, indexes, all: true });
    }
    this.#shown.clear();
    this.#offered.fill(0);
    this.#free = 0;
    return out;
  }
}
