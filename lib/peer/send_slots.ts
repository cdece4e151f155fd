// lib/peer/send_slots.ts: the pieces a seeder has on the wire, counted until their downloader
// says each arrived (`p_got`). Pure: no I/O, no clock; time comes in as `nowMs`.
//
// Why not "until the kernel has taken it": a socket's send buffer grows to megabytes, so the
// kernel takes a whole 512 KiB piece at once and says nothing of when it leaves. In the swarm
// lab (8 downloaders, 100 Mbit/s) the source had 100 to 730 KB waiting on every one of its 8
// connections at once: every piece crawled at an eighth of its uplink, the very thing a few
// sends at a time (lib/peer/serve_queue.ts) is there to prevent.

/** Limits of `SendSlots`. */
export interface SendSlotsOptions {
  /**
   * Connections with a piece on the wire at once: few, so that each piece finishes soon and its
   * receiver can pass it on, rather than every piece crawling in parallel; not one, so that a
   * receiver whose downlink is shared does not leave our uplink idle. In the swarm simulator
   * (64 MiB, 100 Mbit/s) 6 did best over 8 to 64 peers: 1 gave 2.5x the bound at 64 peers, 4
   * gave 1.7x, 6 1.6x, 16 1.8x, unlimited 2.7x.
   */
  connections: number;
  /**
   * Pieces on the wire per connection: two, so that the next one follows the current one
   * without waiting a round trip for its `p_got` (the same connection carries them in turn,
   * so this adds no sharing of the uplink). It is also a connection's turn while others wait
   * for a slot: after this many pieces it lets its slot go (see `canSend`).
   */
  perConnection: number;
  /**
   * A piece not acknowledged this long counts as arrived: a downloader that never says so
   * (another implementation, or a hostile one) holds a slot only this long per piece.
   */
  expireMs: number;
}

export const DEFAULT_SEND_SLOTS: SendSlotsOptions = { connections: 6, perConnection: 2, expireMs: 10_000 };

/** A connection holding a slot: its pieces not yet acknowledged, and how many it sent since it took the slot. */
interface Held {
  pieces: { index: number; atMs: number }[];
  turn: number;
}

/** Pieces sent and not yet acknowledged, per connection. */
export class SendSlots<C> {
  readonly options: SendSlotsOptions;
  #out = new Map<C, Held>();

  constructor(options: Partial<SendSlotsOptions> = {}) {
    this.options = { ...DEFAULT_SEND_SLOTS, ...options };
    for (const [name, value] of Object.entries(this.options))
      if (!(value >= 1))
        throw new RangeError(`Invalid "${name}": expected a number of at least 1: got ${value}`);
  }

  /** Connections with a piece on the wire. */
  get active(): number {
    return this.#out.size;
  }

  /** Pieces of `conn` on the wire. */
  onWire(conn: C): number {
    return this.#out.get(conn)?.pieces.length ?? 0;
  }

  /**
   * Whether a piece may go out on `conn` now: it has room for one more, and either fewer
   * connections than allowed have a piece on the wire, or `conn` has one already (the next adds
   * no sharing) and may keep its slot: within its turn, or while no other connection waits
   * for one (`othersWaiting`). Without turns a connection that always asks again never lets its
   * slot go: in the lab, 6 of 8 downloaders kept the source's slots for the whole download and
   * the other two got one piece each from it, at the end.
   */
  canSend(conn: C, othersWaiting = false): boolean {
    const n = this.onWire(conn);
    if (n >= this.options.perConnection) return false;
    if (n === 0) return this.#out.size < this.options.connections;
    return !othersWaiting || (this.#out.get(conn)?.turn ?? 0) < this.options.perConnection;
  }

  /** Piece `index` went out on `conn`. */
  sent(conn: C, index: number, nowMs: number): void {
    const held = this.#out.get(conn) ?? { pieces: [], turn: 0 };
    held.pieces.push({ index, atMs: nowMs });
    held.turn++;
    this.#out.set(conn, held);
  }

  /**
   * The downloader on `conn` has piece `index`: when it went out (its `nowMs` at `sent`), or
   * undefined if it was not on the wire (a stray or late `p_got`).
   */
  delivered(conn: C, index: number): number | undefined {
    const out = this.#out.get(conn)?.pieces;
    const at = out?.findIndex((p) => p.index === index) ?? -1;
    const piece = out?.[at];
    if (!out || !piece) return undefined;
    out.splice(at, 1);
    if (out.length === 0) this.#out.delete(conn); // its slot, and its turn, are over
    return piece.atMs;
  }

  /** Forgets `conn` (closed). */
  close(conn: C): void {
    this.#out.delete(conn);
  }

  /** Counts pieces sent `expireMs` ago or earlier as arrived; true if any was. */
  expire(nowMs: number): boolean {
    let any = false;
    for (const [conn, held] of this.#out) {
      const kept = held.pieces.filter((p) => nowMs - p.atMs < this.options.expireMs);
      if (kept.length === held.pieces.length) continue;
      any = true;
      if (kept.length === 0) this.#out.delete(conn);
      else held.pieces = kept;
    }
    return any;
  }
}
