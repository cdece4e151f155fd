// The read-only picture of one download for the web page: peers with their state and reason,
// which peer delivered each piece, failed pieces, rates over time. Pure: the engine reports
// events with their time; nothing here does I/O or reads a clock.

/** What one peer is to a download right now. */
export type PeerState = "connecting" | "connected" | "cooling" | "dropped" | "closed";

/** One peer of a download, as the page shows it. */
export interface PeerView {
  peer: string;
  state: PeerState;
  /** Why it is in that state ("" when connected or connecting). */
  reason: string;
  /** Pieces it announced (0 until its bitfield arrived). */
  piecesHeld: number;
  /** Verified pieces it delivered, and their bytes. */
  piecesDelivered: number;
  bytesDelivered: number;
  /** Pieces it sent that failed their SHA-1 check. */
  badPieces: number;
  /** Verified bytes per second over the last tick. */
  bytesPerSecond: number;
}

/** Where a piece came from: a peer's index in `peers`, or one of these. */
export const PIECE_MISSING = -1;
export const PIECE_RESUMED = -2;

/** A snapshot of one download: everything the page draws. Plain data (JSON-ready). */
export interface DownloadView {
  group: string;
  name: string;
  dest: string;
  sizeBytes: number;
  state: "downloading" | "complete" | "failed";
  /** The failure's reason, "" otherwise. */
  reason: string;
  percent: number;
  bytesDone: number;
  bytesPerSecond: number;
  /** Seconds left at the current rate; null when unknown (no rate) or not downloading. */
  secondsLeft: number | null;
  elapsedMs: number;
  pieceCount: number;
  /** Why a running download is stuck (no connected peer has a missing piece), or null. */
  waiting: string | null;
  /** Per piece: index into `peers` of the peer that delivered it, PIECE_MISSING or PIECE_RESUMED. */
  pieceSource: number[];
  /** Pieces that failed their check at least once (fetched again). */
  badPieceIndexes: number[];
  peers: PeerView[];
  /** Bytes per second over the download's whole life, oldest first; fewer than RATE_SAMPLES. */
  rateHistory: number[];
  /** Ticks (seconds) each sample of rateHistory averages: doubles as the download goes on. */
  rateSampleTicks: number;
}

/** Rate samples kept: at this many, pairs are averaged into one and each sample spans twice the time. */
export const RATE_SAMPLES = 600;

/** A peer as recorded: what the page shows of it, and the bytes of the tick under way. */
type PeerRecord = Omit<PeerView, "peer"> & { bytesThisTick: number };

/** Records what happens to a download, for its DownloadView. Fed by the engine. */
export class DownloadRecorder {
  #peers = new Map<string, PeerRecord>();
  #order: string[] = [];
  #source: Int32Array;
  #bad = new Set<number>();
  #rates: number[] = [];
  #ticksPerSample = 1;
  #pending = { sum: 0, ticks: 0 };

  constructor(pieceCount: number) {
    this.#source = new Int32Array(pieceCount).fill(PIECE_MISSING);
  }

  /** Pieces found verified in the temporary file at start. */
  resumed(index: number): void {
    this.#source[index] = PIECE_RESUMED;
  }

  /** A peer changed state (dialled, connected, cooled down, dropped, hung up). */
  peerState(peer: string, state: PeerState, reason = ""): void {
    const p = this.#peer(peer);
    // A peer we dropped or cooled down closes afterwards: keep the reason we gave.
    if (state === "closed" && (p.state === "cooling" || p.state === "dropped")) return;
    p.state = state;
    p.reason = reason;
    if (state !== "connected") p.bytesPerSecond = 0;
  }

  /** How many pieces a peer announced in its bitfield. */
  peerHolds(peer: string, pieces: number): void {
    this.#peer(peer).piecesHeld = pieces;
  }

  /** A peer announced one more piece. */
  peerGained(peer: string): void {
    this.#peer(peer).piecesHeld++;
  }

  /** A piece passed its check; `peer` delivered it. */
  verified(index: number, peer: string, bytes: number): void {
    const p = this.#peer(peer);
    p.piecesDelivered++;
    p.bytesDelivered += bytes;
    p.bytesThisTick += bytes;
    this.#source[index] = this.#order.indexOf(peer);
  }

  /** A piece from `peer` failed its check. */
  failedCheck(index: number, peer: string): void {
    this.#peer(peer).badPieces++;
    this.#bad.add(index);
  }

  /** One second passed: `bytesPerSecond` is the download's rate over it. */
  tick(bytesPerSecond: number, elapsedSeconds: number): void {
    for (const p of this.#peers.values()) {
      p.bytesPerSecond = elapsedSeconds > 0 ? p.bytesThisTick / elapsedSeconds : 0;
      p.bytesThisTick = 0;
    }
    this.#pending.sum += bytesPerSecond;
    this.#pending.ticks++;
    if (this.#pending.ticks < this.#ticksPerSample) return;
    this.#rates.push(this.#pending.sum / this.#pending.ticks);
    this.#pending = { sum: 0, ticks: 0 };
    if (this.#rates.length < RATE_SAMPLES) return;
    // Full: halve the resolution rather than forget the start (the graph covers the whole life).
    const merged: number[] = [];
    for (let i = 0; i + 1 < this.#rates.length; i += 2)
      merged.push(((this.#rates[i] ?? 0) + (this.#rates[i + 1] ?? 0)) / 2);
    this.#rates = merged;
    this.#ticksPerSample *= 2;
  }

  /** The download ended: its average rate closes the graph (a fast one may end before a tick). */
  ended(averageBytesPerSecond: number): void {
    this.#rates.push(averageBytesPerSecond);
  }

  /** The parts of a DownloadView this recorder knows. */
  snapshot(): Pick<
    DownloadView,
    "pieceSource" | "badPieceIndexes" | "peers" | "rateHistory" | "rateSampleTicks"
  > {
    return {
      pieceSource: [...this.#source],
      badPieceIndexes: [...this.#bad].sort((a, b) => a - b),
      peers: this.#order.map((peer) => {
        const { bytesThisTick: _, ...rest } = this.#peer(peer);
        return { peer, ...rest };
      }),
      rateHistory: [...this.#rates],
      rateSampleTicks: this.#ticksPerSample,
    };
  }

  #peer(peer: string): PeerRecord {
    let p = this.#peers.get(peer);
    if (!p) {
      p = {
        state: "connecting",
        reason: "",
        piecesHeld: 0,
        piecesDelivered: 0,
        bytesDelivered: 0,
        badPieces: 0,
        bytesThisTick: 0,
        bytesPerSecond: 0,
      };
      this.#peers.set(peer, p);
      this.#order.push(peer);
    }
    return p;
  }
}

/** Seconds to fetch `bytesLeft` at `bytesPerSecond`, or null when that is not a useful figure. */
export function secondsLeft(bytesLeft: number, bytesPerSecond: number): number | null {
  if (bytesPerSecond <= 0 || bytesLeft <= 0) return null;
  return Math.ceil(bytesLeft / bytesPerSecond);
}
