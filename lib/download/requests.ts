// lib/download/requests.ts: one download's request book: who was asked for which piece, since when, with what result.
// Pure: no clock reads; every time is a `nowMs` argument.

/** Bad pieces a peer may send before it is dropped (SPEC: "a peer that keeps sending bad data"). */
export const DEFAULT_STRIKES_TO_DROP = 3;

/** Options for `RequestBook`. */
export interface RequestBookOptions {
  /** Pipelining limit: outstanding piece requests per peer. */
  maxRequestsPerPeer: number;
  /** Bad pieces after which `strike` says to drop the peer; default `DEFAULT_STRIKES_TO_DROP`. */
  strikesToDrop?: number;
}

/** One outstanding request. */
export interface OutstandingRequest {
  peerId: string;
  pieceIndex: number;
  requestedAtMs: number;
}

/** What the download has received so far. */
export interface RequestCounters {
  /** Pieces delivered in answer to a request, good or bad. */
  piecesReceived: number;
  /** Delivered pieces we had already verified from another peer (endgame overlap). */
  duplicatesReceived: number;
  /** Delivered pieces that failed their SHA-1 check. */
  badPieces: number;
}

/** Options for `RequestBook.received`. */
export interface ReceivedOptions {
  /** The piece was already verified from another peer. */
  duplicate?: boolean;
}

function checkPositive(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`Invalid "${name}": expected a positive integer: got ${value}`);
  }
}

/** Outstanding requests per peer with their start times, pipelining limit, strikes and counters. */
export class RequestBook {
  #maxRequestsPerPeer: number;
  #strikesToDrop: number;
  #byPeer = new Map<string, Map<number, number>>(); // peerId -> pieceIndex -> requestedAtMs; never empty
  #strikes = new Map<string, number>(); // kept across removePeer: a peer that reconnects keeps its record
  #counters: RequestCounters = { piecesReceived: 0, duplicatesReceived: 0, badPieces: 0 };

  /** An empty book with the given pipelining limit and strike threshold. */
  constructor(options: RequestBookOptions) {
    checkPositive("maxRequestsPerPeer", options.maxRequestsPerPeer);
    this.#maxRequestsPerPeer = options.maxRequestsPerPeer;
    this.#strikesToDrop = options.strikesToDrop ?? DEFAULT_STRIKES_TO_DROP;
    checkPositive("strikesToDrop", this.#strikesToDrop);
  }

  /** How many more requests `peerId` may have outstanding now. */
  freeSlots(peerId: string): number {
    return this.#maxRequestsPerPeer - this.outstanding(peerId);
  }

  /** Number of requests outstanding to `peerId`. */
  outstanding(peerId: string): number {
    return this.#byPeer.get(peerId)?.size ?? 0;
  }

  /** Total requests outstanding across all peers. */
  totalOutstanding(): number {
    let total = 0;
    for (const pieces of this.#byPeer.values()) total += pieces.size;
    return total;
  }

  /** True when `pieceIndex` is outstanding to `peerId`. */
  has(peerId: string, pieceIndex: number): boolean {
    return this.#byPeer.get(peerId)?.has(pieceIndex) ?? false;
  }

  /** When `pieceIndex` was requested from `peerId`; throws if it is not outstanding. */
  requestedAt(peerId: string, pieceIndex: number): number {
    const at = this.#byPeer.get(peerId)?.get(pieceIndex);
    if (at === undefined)
      throw new Error(`RequestBook: piece ${pieceIndex} is not outstanding to "${peerId}"`);
    return at;
  }

  /** Records a request sent at `nowMs`; throws if the peer's pipeline is full or it is already asked. */
  add(peerId: string, pieceIndex: number, nowMs: number): void {
    if (this.freeSlots(peerId) <= 0) throw new Error(`RequestBook: pipeline to "${peerId}" is full`);
    const pieces = this.#byPeer.get(peerId) ?? new Map<number, number>();
    if (pieces.has(pieceIndex))
      throw new Error(`RequestBook: piece ${pieceIndex} already requested from "${peerId}"`);
    pieces.set(pieceIndex, nowMs);
    this.#byPeer.set(peerId, pieces);
  }

  /** Forgets one request (cancelled, timed out, released); false if it was not outstanding. */
  remove(peerId: string, pieceIndex: number): boolean {
    const pieces = this.#byPeer.get(peerId);
    if (pieces === undefined || !pieces.delete(pieceIndex)) return false;
    if (pieces.size === 0) this.#byPeer.delete(peerId);
    return true;
  }

  /** Settles a delivered piece and counts it; false (nothing counted) if it was never requested. */
  received(peerId: string, pieceIndex: number, options: ReceivedOptions = {}): boolean {
    if (!this.remove(peerId, pieceIndex)) return false;
    this.#counters.piecesReceived += 1;
    if (options.duplicate === true) this.#counters.duplicatesReceived += 1;
    return true;
  }

  /** Forgets every request to `peerId` (it disconnected); returns their pieces, ascending. */
  removePeer(peerId: string): number[] {
    const pieces = this.#byPeer.get(peerId);
    this.#byPeer.delete(peerId);
    return pieces === undefined ? [] : [...pieces.keys()].sort((a, b) => a - b);
  }

  /** Requests outstanding for at least `timeoutMs` at `nowMs`, oldest first; they stay until removed. */
  timedOut(nowMs: number, timeoutMs: number): OutstandingRequest[] {
    const late: OutstandingRequest[] = [];
    for (const [peerId, pieces] of this.#byPeer) {
      for (const [pieceIndex, requestedAtMs] of pieces) {
        if (nowMs - requestedAtMs >= timeoutMs) late.push({ peerId, pieceIndex, requestedAtMs });
      }
    }
    return late.sort((a, b) => a.requestedAtMs - b.requestedAtMs);
  }

  /** Counts a bad piece from `peerId`; true once the peer has reached the drop threshold. */
  strike(peerId: string): boolean {
    const strikes = (this.#strikes.get(peerId) ?? 0) + 1;
    this.#strikes.set(peerId, strikes);
    this.#counters.badPieces += 1;
    return strikes >= this.#strikesToDrop;
  }

  /** Bad pieces received from `peerId` so far. */
  strikes(peerId: string): number {
    return this.#strikes.get(peerId) ?? 0;
  }

  /** A snapshot of the counters. */
  counters(): RequestCounters {
    return { ...this.#counters };
  }
}
