// lib/download/core.ts: every decision of one download, as data: events in, effects out.
// Pure: no sockets, files, timers or clock reads; time comes in as `nowMs`, randomness as `rng`.
// The shell (engine.ts) and the swarm simulator (bench/swarm_sim.ts) drive the same core.
import type { Bitfield } from "../pieces/bitfield.ts";
import { PIECE_BYTES, pieceCount, pieceLength } from "../pieces/constants.ts";
import { type MayAsk, PiecePicker } from "../pieces/picker.ts";
import { DEFAULT_STRIKES_TO_DROP, RequestBook } from "./requests.ts";

/** Every limit and timing of a download; `DEFAULT_CORE_OPTIONS` holds the product's values. */
export interface CoreOptions {
  /**
   * Seeders connected or being dialled at once. Few enough that a downloader's requests do not
   * wait in the queues of many busy peers: in the swarm simulator 16 finished 64 and 100 peers
   * in 1.5x the bound, 32 in 1.6x, 64 in 2.1x.
   */
  maxPeers: number;
  /**
   * Beyond `maxPeers`, peers that connected to us for the file without being in any list the
   * tracker gave us (they started after we asked) are fetched from in return, up to this many
   * more. When downloaders start over a second rather than at once, the first ones fill their
   * places with each other, and a later one, dialled back by nobody, has its uplink idle: in the
   * swarm simulator, 100 peers starting over 0.2 s and 1 s took 2.49x and 2.36x the bound
   * (mean of 4 seeds); with 32 more places 1.25x and 1.34x, and a flash crowd starting at once
   * is unchanged (all listed: 1.183x). Dialling every peer that connects back instead (without
   * the "not listed" test) costs the crowd that starts at once 1%-2%: 1.195x.
   */
  latePeers: number;
  /** Requests in flight to a peer before its rate is measured. */
  initialRequestsPerPeer: number;
  /** Requests in flight to a peer whatever its rate: one being sent, one queued behind it. */
  minRequestsPerPeer: number;
  /** Requests in flight to a peer at most (a whole loopback link's worth). */
  maxRequestsPerPeer: number;
  /**
   * Requests in flight over all peers at most: enough to fill our downlink (6 MiB: 0.5 s at
   * 100 Mbit/s, 15 ms on loopback), few enough that the pieces not yet asked for can go to
   * whichever peer is free first, and that our downlink is not split over many senders each
   * held to a sliver of it. In the swarm simulator (64 MiB, 100 peers, mean of 4 seeds) 12 gave
   * 1.34x the bound on equal links and 1.26x with a 1 Gbit/s source; 16 1.37x and 1.41x; 32
   * 1.37x and 1.45x.
   */
  maxRequestsTotal: number;
  /** Beyond one round trip, how long each peer's queue of our requests should last (covers our own delays). */
  queueAheadMs: number;
  /**
   * A peer that said busy is asked again after this long even without its "resume" (which
   * a lost or reordered message, or another implementation, might never send).
   */
  busyRetryMs: number;
  /** A request unanswered this long drops its peer (for `cooldownMs`). */
  requestTimeoutMs: number;
  /** A peer that failed, stalled or rejected is not dialled again for this long (while others can serve). */
  cooldownMs: number;
  /**
   * A dial not answered with a bitfield this long is abandoned (and the peer cooled down): a
   * connect into a partition is retried by the kernel for minutes, and would hold the peer's
   * place all that time (the soak found downloads waiting past the heal for exactly that).
   */
  dialTimeoutMs: number;
  /** No progress this long and no connected peer holding a missing piece: give up. */
  giveUpMs: number;
  /** Ask the tracker for the file's peers this often (every tick while stuck). */
  refreshPeersMs: number;
  /** Bad pieces after which a peer is dropped for good. */
  strikesToDrop: number;
  /** The current rate is the bytes verified over this window. */
  rateWindowMs: number;
}

export const DEFAULT_CORE_OPTIONS: CoreOptions = {
  maxPeers: 16,
  latePeers: 32,
  initialRequestsPerPeer: 2,
  minRequestsPerPeer: 2,
  maxRequestsPerPeer: 8,
  maxRequestsTotal: 12,
  queueAheadMs: 20,
  busyRetryMs: 5_000,
  requestTimeoutMs: 15_000,
  cooldownMs: 30_000,
  dialTimeoutMs: 10_000,
  giveUpMs: 60_000,
  refreshPeersMs: 5_000,
  strikesToDrop: DEFAULT_STRIKES_TO_DROP,
  rateWindowMs: 2_000,
};

/** What is being fetched, as far as decisions go. */
export interface CoreSpec {
  sizeBytes: number;
  /** Our own peer address: never dialled. */
  selfPeer: string;
  /** Pieces verified and on disk already (a resumed download). */
  have?: Bitfield;
  /** When the download starts. */
  nowMs: number;
  /** Which peer may be asked for which piece (see PiecePickerOptions.mayAsk); any, without it. */
  mayAsk?: MayAsk;
}

export type CoreEvent =
  /**
   * Peers sharing the file: from the tracker, or (`introduced`) one that just connected to us
   * for it.
   */
  | { t: "peers"; nowMs: number; peers: readonly string[]; introduced?: boolean }
  | { t: "dial_failed"; nowMs: number; peer: string }
  /** `superSeed`: the peer shows a few pieces at a time and wants a `decline` when none is of use. */
  | { t: "peer_ready"; nowMs: number; peer: string; have: Bitfield; superSeed?: boolean }
  | { t: "have"; nowMs: number; peer: string; index: number }
  /** The peer has every piece now (a super-seeder that has sent each piece once). */
  | { t: "have_all"; nowMs: number; peer: string }
  /** The peer will not send a piece it announced. */
  | { t: "reject"; nowMs: number; peer: string; index: number }
  /** The peer's queues are full: it did not take the request for `index`; ask elsewhere. */
  | { t: "busy"; nowMs: number; peer: string; index: number }
  /** The peer that said busy takes requests again. */
  | { t: "resume"; nowMs: number; peer: string }
  /** A piece body arrived; `check` tells whether it is the piece (length and SHA-1), called only if needed. */
  | { t: "piece"; nowMs: number; peer: string; index: number; bytes: number; check: () => boolean }
  /** A piece the core asked to write is on disk. */
  | { t: "written"; nowMs: number; index: number }
  | { t: "peer_closed"; nowMs: number; peer: string }
  | { t: "tick"; nowMs: number };

export type Effect =
  | { t: "dial"; peer: string }
  /** `missing`: pieces we still lack, told to the peer (it serves the furthest behind first). */
  | { t: "request"; peer: string; index: number; missing: number }
  | { t: "cancel"; peer: string; index: number }
  /** Tell a super-seeding peer that nothing it shows is of use to us (it shows others then). */
  | { t: "decline"; peer: string }
  /**
   * Close the link to `peer`; `quiet` when the download itself is over (nothing to log),
   * `forGood` when it is never dialled again (caught lying).
   */
  | { t: "drop"; peer: string; why: string; quiet?: boolean; forGood?: boolean }
  /** Write the piece that just arrived (only ever in answer to its `piece` event). */
  | { t: "write"; index: number }
  /** The piece is on disk: serve it and tell our peers. */
  | { t: "announce"; index: number }
  | { t: "refresh_peers" }
  /** Every piece is verified and written. */
  | { t: "finish" }
  | { t: "give_up"; why: string };

type Phase = "dialing" | "ready" | "closing";

interface PeerState {
  phase: Phase;
  /** Measured delivery rate in bytes per ms (EWMA); 0 until a piece arrived. */
  rate: number;
  /** Smallest seen time from request to arrival beyond the piece's own transfer time. */
  rttMs: number;
  lastArrivalMs: number;
  /** When we dialled it. */
  dialedAtMs: number;
  /** Said busy and has not resumed: asked for nothing meanwhile. */
  busy: boolean;
  busySinceMs: number;
  /** Shows a few pieces at a time (lib/peer/super_seed.ts). */
  superSeed: boolean;
  /** Told that its pieces are of no use, and has shown none since. */
  declined: boolean;
}

/** Smoothing of the per-peer rate: weight of the newest sample. */
const RATE_WEIGHT = 0.3;

/** One download's decisions: which peers to dial, what to ask whom, when to drop, finish or give up. */
export class DownloadCore {
  readonly options: CoreOptions;
  #size: number;
  #rng: () => number;
  #count: number;
  #self: string;
  #picker: PiecePicker;
  #book: RequestBook;
  #peers = new Map<string, PeerState>();
  #cooldown = new Map<string, number>();
  /** Every peer some tracker list named: we could have picked it ourselves. */
  #listed = new Set<string>();
  #written: number;
  #state: "downloading" | "finished" | "given_up" = "downloading";
  #lastProgressMs: number;
  #startMs: number;
  #lastRefreshMs: number;
  #bytesVerified: number;
  #arrivals: { atMs: number; bytes: number }[] = [];

  constructor(spec: CoreSpec, options: Partial<CoreOptions> = {}, rng: () => number = () => 0.5) {
    this.options = { ...DEFAULT_CORE_OPTIONS, ...options };
    const o = this.options;
    for (const [name, value] of Object.entries(o))
      if (!(value >= 0))
        throw new RangeError(`Invalid "${name}": expected a non-negative number: got ${value}`);
    if (o.minRequestsPerPeer < 1 || o.maxRequestsPerPeer < o.minRequestsPerPeer)
      throw new RangeError(
        `Invalid request limits: need 1 <= minRequestsPerPeer <= maxRequestsPerPeer: got ${o.minRequestsPerPeer}, ${o.maxRequestsPerPeer}`,
      );
    this.#rng = rng;
    this.#size = spec.sizeBytes;
    this.#count = pieceCount(spec.sizeBytes);
    this.#self = spec.selfPeer;
    this.#picker = new PiecePicker(this.#count, {
      rng,
      ...(spec.have ? { have: spec.have } : {}),
      ...(spec.mayAsk ? { mayAsk: spec.mayAsk } : {}),
    });
    this.#book = new RequestBook({
      maxRequestsPerPeer: o.maxRequestsPerPeer,
      strikesToDrop: o.strikesToDrop,
    });
    this.#written = spec.have?.count() ?? 0;
    this.#bytesVerified = 0;
    for (let i = 0; i < this.#count; i++)
      if (this.#picker.has(i)) this.#bytesVerified += pieceLength(this.#size, i);
    this.#lastProgressMs = spec.nowMs;
    this.#startMs = spec.nowMs;
    this.#lastRefreshMs = -Infinity;
  }

  /** The effects to start with: finish at once (nothing missing) or ask for peers. */
  start(nowMs: number): Effect[] {
    if (this.#written === this.#count) return this.#finish();
    this.#lastRefreshMs = nowMs;
    return [{ t: "refresh_peers" }];
  }

  handle(event: CoreEvent): Effect[] {
    if (this.#state !== "downloading") return [];
    switch (event.t) {
      case "peers":
        return this.#onPeers(event.nowMs, event.peers, event.introduced === true);
      case "dial_failed":
        this.#cooldown.set(event.peer, event.nowMs + this.options.cooldownMs);
        this.#forget(event.peer);
        return [];
      case "peer_ready": {
        const p = this.#peers.get(event.peer);
        if (p?.phase !== "dialing") return [];
        p.phase = "ready";
        p.superSeed = event.superSeed === true;
        this.#picker.addPeer(event.peer, event.have);
        return this.#fill(event.peer, event.nowMs);
      }
      case "have": {
        const p = this.#peers.get(event.peer);
        if (p?.phase !== "ready") return [];
        this.#picker.peerHas(event.peer, event.index);
        p.declined = false;
        return this.#fill(event.peer, event.nowMs);
      }
      case "reject":
        if (!this.#ready(event.peer)) return [];
        // It announced the piece but will not send it: its bitfield cannot be trusted any more.
        this.#cooldown.set(event.peer, event.nowMs + this.options.cooldownMs);
        return [
          ...this.#drop(event.peer, `rejected piece ${event.index} it had announced`),
          ...this.#fillAll(event.nowMs),
        ];
      case "have_all": {
        const p = this.#peers.get(event.peer);
        if (p?.phase !== "ready") return [];
        for (let i = 0; i < this.#count; i++) this.#picker.peerHas(event.peer, i);
        p.declined = false;
        return this.#fill(event.peer, event.nowMs);
      }
      case "busy": {
        const p = this.#peers.get(event.peer);
        if (p?.phase !== "ready" || !this.#book.remove(event.peer, event.index)) return [];
        p.busy = true;
        p.busySinceMs = event.nowMs;
        this.#picker.release(event.peer, event.index);
        return this.#fillAll(event.nowMs);
      }
      case "resume": {
        const p = this.#peers.get(event.peer);
        if (p?.phase !== "ready") return [];
        p.busy = false;
        return this.#fill(event.peer, event.nowMs);
      }
      case "piece":
        return this.#onPiece(event);
      case "written":
        return this.#onWritten(event.index);
      case "peer_closed": {
        const wasReady = this.#peers.get(event.peer)?.phase === "ready";
        this.#forget(event.peer);
        return wasReady ? this.#fillAll(event.nowMs) : [];
      }
      case "tick":
        return this.#tick(event.nowMs);
    }
  }

  /** What `show_downloads` says. */
  progress(nowMs: number): {
    bytesVerified: number;
    bytesPerSecond: number;
    peers: number;
    duplicates: number;
    badPieces: number;
  } {
    this.#trimArrivals(nowMs);
    let bytes = 0;
    for (const a of this.#arrivals) bytes += a.bytes;
    const c = this.#book.counters();
    let peers = 0;
    for (const p of this.#peers.values()) if (p.phase === "ready") peers++;
    return {
      bytesVerified: this.#bytesVerified,
      // Over the window, or over the time since the start while that is shorter.
      bytesPerSecond:
        (bytes * 1000) / Math.max(Math.min(this.options.rateWindowMs, nowMs - this.#startMs), 100),
      peers,
      duplicates: c.duplicatesReceived,
      badPieces: c.badPieces,
    };
  }

  /** Milliseconds since the last verified piece (or the start). */
  stalledForMs(nowMs: number): number {
    return nowMs - this.#lastProgressMs;
  }

  /** True while some connected peer has a piece still missing here. */
  canProgress(): boolean {
    return this.#picker.canProgress();
  }

  /** Requests in flight to `peer` that its measured rate and round trip call for. */
  window(peer: string): number {
    const p = this.#peers.get(peer);
    const o = this.options;
    if (!p || p.rate === 0) return o.initialRequestsPerPeer;
    const ahead = Math.ceil((p.rate * (p.rttMs + o.queueAheadMs)) / PIECE_BYTES);
    return Math.max(o.minRequestsPerPeer, Math.min(o.maxRequestsPerPeer, 1 + ahead));
  }

  /** Requests of ours outstanding at `peer` (being sent, or queued there). */
  requestsAt(peer: string): number {
    return this.#book.outstanding(peer);
  }

  /** Peers in each phase (for tests and the simulator). */
  peerPhase(peer: string): Phase | undefined {
    return this.#peers.get(peer)?.phase;
  }

  #ready(peer: string): boolean {
    return this.#peers.get(peer)?.phase === "ready";
  }

  #onPeers(nowMs: number, peers: readonly string[], introduced: boolean): Effect[] {
    const out: Effect[] = [];
    if (!introduced) for (const peer of peers) this.#listed.add(peer);
    // A peer that found us, and that no list showed us, could not have been picked by us: it
    // gets one of the late places (see latePeers).
    const places =
      this.options.maxPeers +
      (introduced && peers.some((p) => !this.#listed.has(p)) ? this.options.latePeers : 0);
    const stuck = !this.#picker.canProgress();
    // In random order: with more peers listed than maxPeers, each downloader dials another
    // sample of them (the tracker lists them in the same order to everyone).
    const order = [...peers];
    for (let k = order.length - 1; k > 0; k--) {
      const j = Math.min(k, Math.floor(this.#rng() * (k + 1)));
      [order[k], order[j]] = [order[j] ?? "", order[k] ?? ""];
    }
    for (const peer of order) {
      if (this.#peers.size >= places) break;
      if (peer === this.#self || this.#peers.has(peer)) continue;
      // A cooldown only defers a peer while others can serve us: when nobody connected has a
      // missing piece (say after a partition heals), every peer not caught lying is tried again.
      const until = this.#cooldown.get(peer) ?? 0;
      if (until > nowMs && (until === Infinity || !stuck)) continue;
      this.#peers.set(peer, {
        phase: "dialing",
        rate: 0,
        rttMs: Infinity,
        lastArrivalMs: -Infinity,
        dialedAtMs: nowMs,
        busy: false,
        busySinceMs: 0,
        superSeed: false,
        declined: false,
      });
      out.push({ t: "dial", peer });
    }
    return out;
  }

  #onPiece(e: Extract<CoreEvent, { t: "piece" }>): Effect[] {
    if (!this.#ready(e.peer) || !this.#book.has(e.peer, e.index)) return []; // cancelled or unasked
    const requestedAt = this.#book.requestedAt(e.peer, e.index);
    this.#measure(e.peer, e.nowMs, requestedAt, e.bytes);
    if (this.#picker.has(e.index)) {
      this.#book.received(e.peer, e.index, { duplicate: true });
      return this.#fill(e.peer, e.nowMs);
    }
    this.#book.received(e.peer, e.index);
    if (e.bytes !== pieceLength(this.#size, e.index) || !e.check()) {
      this.#picker.release(e.peer, e.index);
      const out: Effect[] = [];
      if (this.#book.strike(e.peer)) {
        this.#cooldown.set(e.peer, Infinity); // keeps lying: never again for this download
        out.push(
          ...this.#drop(
            e.peer,
            `dropped after ${this.#book.strikes(e.peer)} pieces that failed their SHA-1 check`,
            true,
          ),
        );
      }
      return [...out, ...this.#fillAll(e.nowMs)];
    }
    const out: Effect[] = [{ t: "write", index: e.index }];
    for (const other of this.#picker.markVerified(e.index, e.peer)) {
      this.#book.remove(other, e.index);
      out.push({ t: "cancel", peer: other, index: e.index });
    }
    this.#bytesVerified += e.bytes;
    this.#arrivals.push({ atMs: e.nowMs, bytes: e.bytes });
    this.#lastProgressMs = e.nowMs;
    // The cancelled peers have room again, and so does the sender.
    return [...out, ...this.#fillAll(e.nowMs)];
  }

  /** Updates the sender's rate and round-trip estimates from one arrival. */
  #measure(peer: string, nowMs: number, requestedAtMs: number, bytes: number): void {
    const p = this.#peers.get(peer);
    if (!p) return;
    const since = Math.max(p.lastArrivalMs, requestedAtMs);
    p.lastArrivalMs = nowMs;
    const spanMs = Math.max(nowMs - since, 0.05);
    const sample = bytes / spanMs;
    p.rate = p.rate === 0 ? sample : p.rate + RATE_WEIGHT * (sample - p.rate);
    const beyondTransfer = nowMs - requestedAtMs - bytes / p.rate;
    p.rttMs = Math.max(0, Math.min(p.rttMs, beyondTransfer));
  }

  #onWritten(index: number): Effect[] {
    this.#written++;
    const out: Effect[] = [{ t: "announce", index }];
    if (this.#written === this.#count && this.#picker.isComplete()) out.push(...this.#finish());
    return out;
  }

  #finish(): Effect[] {
    this.#state = "finished";
    const out: Effect[] = [];
    for (const peer of this.#peers.keys())
      out.push({ t: "drop", peer, why: "download complete", quiet: true });
    this.#peers.clear();
    out.push({ t: "finish" });
    return out;
  }

  #giveUp(why: string): Effect[] {
    this.#state = "given_up";
    const out: Effect[] = [];
    for (const peer of this.#peers.keys()) out.push({ t: "drop", peer, why: "download over", quiet: true });
    this.#peers.clear();
    out.push({ t: "give_up", why });
    return out;
  }

  /** Stops using a peer now; its requests go back to the others. */
  #drop(peer: string, why: string, forGood = false): Effect[] {
    const p = this.#peers.get(peer);
    if (!p || p.phase === "closing") return [];
    this.#picker.removePeer(peer);
    this.#book.removePeer(peer);
    p.phase = "closing";
    return [forGood ? { t: "drop", peer, why, forGood } : { t: "drop", peer, why }];
  }

  #forget(peer: string): void {
    this.#picker.removePeer(peer);
    this.#book.removePeer(peer);
    this.#peers.delete(peer);
  }

  #fill(peer: string, nowMs: number): Effect[] {
    const p = this.#peers.get(peer);
    if (p?.phase !== "ready" || p.busy) return [];
    const out: Effect[] = [];
    const window = this.window(peer);
    const total = this.options.maxRequestsTotal;
    while (this.#book.outstanding(peer) < window && this.#book.totalOutstanding() < total) {
      const index = this.#picker.pick(peer);
      if (index === undefined) break;
      this.#picker.markRequested(peer, index);
      this.#book.add(peer, index, nowMs);
      out.push({ t: "request", peer, index, missing: this.#picker.missingCount() });
    }
    // A super-seeder shows only what nobody else was sent; if we want none of it (we have it,
    // or fetch it elsewhere), it must hear so, or it would wait for our requests forever.
    if (
      p.superSeed &&
      !p.declined &&
      out.length === 0 &&
      this.#book.outstanding(peer) === 0 &&
      this.#picker.pick(peer) === undefined
    ) {
      p.declined = true;
      out.push({ t: "decline", peer });
    }
    return out;
  }

  /** Fills every peer's window, starting from a different peer each time (none is favoured). */
  #fillAll(nowMs: number): Effect[] {
    const out: Effect[] = [];
    const peers = [...this.#peers.keys()];
    const from = Math.floor(this.#rng() * peers.length);
    for (let k = 0; k < peers.length; k++)
      out.push(...this.#fill(peers[(from + k) % peers.length] ?? "", nowMs));
    return out;
  }

  #trimArrivals(nowMs: number): void {
    const from = nowMs - this.options.rateWindowMs;
    let drop = 0;
    while (drop < this.#arrivals.length && (this.#arrivals[drop]?.atMs ?? 0) <= from) drop++;
    if (drop > 0) this.#arrivals.splice(0, drop);
  }

  #tick(nowMs: number): Effect[] {
    const o = this.options;
    this.#trimArrivals(nowMs);
    const out: Effect[] = [];
    for (const late of this.#book.timedOut(nowMs, o.requestTimeoutMs)) {
      // A peer that stalls on a request is dropped for a while; its pieces go to the others.
      if (!this.#ready(late.peerId)) continue;
      this.#cooldown.set(late.peerId, nowMs + o.cooldownMs);
      out.push(
        ...this.#drop(late.peerId, `no answer to piece ${late.pieceIndex} in ${o.requestTimeoutMs / 1000} s`),
      );
    }
    if (out.length > 0) out.push(...this.#fillAll(nowMs));
    for (const [peer, p] of this.#peers) {
      if (p.phase === "ready" && p.busy && nowMs - p.busySinceMs >= o.busyRetryMs) {
        p.busy = false;
        out.push(...this.#fill(peer, nowMs));
      }
      if (p.phase !== "dialing" || nowMs - p.dialedAtMs < o.dialTimeoutMs) continue;
      this.#cooldown.set(peer, nowMs + o.cooldownMs);
      this.#forget(peer);
      out.push({ t: "drop", peer, why: `no answer to our dial in ${o.dialTimeoutMs / 1000} s` });
    }
    // No progress for a while and no connected peer holds a missing piece (no peer at all, or
    // only other downloaders as far behind): give up rather than wait forever.
    const stuck = !this.#picker.canProgress();
    if (stuck && nowMs - this.#lastProgressMs > o.giveUpMs)
      return [...out, ...this.#giveUp("no live peer has the missing pieces")];
    if (stuck || nowMs - this.#lastRefreshMs >= o.refreshPeersMs) {
      this.#lastRefreshMs = nowMs;
      out.push({ t: "refresh_peers" });
    }
    return out;
  }
}
