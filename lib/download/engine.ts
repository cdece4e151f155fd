// Shell: one download. Draws pieces from every peer that has them (rarest first, several in
// flight per peer, endgame at the end), checks each piece's SHA-1 before writing it into a
// temporary file (written off the main thread), serves each piece once it is written, hashes
// the whole file as its verified prefix grows, and renames the file into place only after the
// whole file's SHA-1 matches.
import { closeSync, existsSync, ftruncateSync, openSync, readSync, renameSync } from "node:fs";
import { messageOf } from "../errors.ts";
import type { Catalog } from "../peer/catalog.ts";
import { Bitfield } from "../pieces/bitfield.ts";
import { PIECE_BYTES, pieceCount, pieceLength } from "../pieces/constants.ts";
import { verifyPiece } from "../pieces/hash.ts";
import { PiecePicker } from "../pieces/picker.ts";
import { BufferPool } from "../wire/buffer_pool.ts";
import { PIECE_FRAME_OVERHEAD_BYTES } from "../wire/codec.ts";
import { PeerLink, type SeederTrust } from "./peer_link.ts";
import { PieceWriter } from "./piece_writer.ts";
import { RequestBook } from "./requests.ts";
import { DownloadRecorder, type DownloadView, secondsLeft } from "./view.ts";

/** Whole pieces in flight per peer: 4 MiB, enough to keep a loopback or LAN link full. */
const MAX_REQUESTS_PER_PEER = 8;
const MAX_PEERS = 32;
const REQUEST_TIMEOUT_MS = 15_000;
const TICK_MS = 1_000;
const REFRESH_PEERS_MS = 5_000;
/** With no progress for this long and no connected peer holding a missing piece, the download gives up. */
const GIVE_UP_MS = 60_000;
const COOLDOWN_MS = 30_000;
/**
 * Bytes received but not yet on disk (being checked or written) before the engine stops
 * reading from peers, and the level at which it reads again. Small: the disk keeps up at
 * GB/s, and every byte here is resident memory.
 */
const BACKLOG_HIGH_BYTES = 2 * 1024 * 1024;
const BACKLOG_LOW_BYTES = 512 * 1024;

/** What is being fetched and where it goes. */
export interface DownloadSpec {
  group: string;
  name: string;
  sizeBytes: number;
  sha1: Uint8Array;
  pieces: Uint8Array;
  dest: string;
  partPath: string;
}

/** What a download needs from the client around it. */
export interface DownloadDeps {
  catalog: Catalog;
  selfPeer: string;
  session: () => string | undefined;
  /** Our key, and the key each seeder must present. */
  trust: SeederTrust;
  /** Live peers sharing the file, from the tracker. */
  fetchPeers: () => Promise<string[]>;
  onComplete: (d: Download) => void;
  onFailed: (d: Download) => void;
  log: (line: string) => void;
}

/**
 * Bun hands every socket read to us in a fresh buffer; at loopback speed (GB/s) the collector
 * lets a hundred MiB of them pile up before it runs. A full collection every GC_PACE_BYTES
 * received keeps a download's memory flat (1 GiB: peak +13 MiB instead of +75 MiB), at ~1 ms
 * per collection on the main thread.
 */
const GC_PACE_BYTES = 2 * 1024 * 1024;
let receivedSinceGc = 0;

function paceGarbage(bytes: number): void {
  receivedSinceGc += bytes;
  if (receivedSinceGc < GC_PACE_BYTES) return;
  receivedSinceGc = 0;
  Bun.gc(true);
}

/**
 * Piece bodies of every download, reused: a body goes back once its piece is written and
 * hashed (or turned away). Idle buffers kept: enough for the pieces that wait for the disk.
 */
const pieceBodies = new BufferPool({ bufferBytes: PIECE_BYTES + PIECE_FRAME_OVERHEAD_BYTES, maxIdle: 16 });

export type DownloadState = "downloading" | "complete" | "failed";

export class Download {
  readonly spec: DownloadSpec;
  state: DownloadState = "downloading";
  reason = "";
  /** Pieces verified at start from an earlier run, and pieces received again after that. */
  resumedPieces = 0;
  refetchedPieces = 0;
  /** Pieces that failed their SHA-1 check (each fetched again from another peer). */
  badPieces = 0;
  #deps: DownloadDeps;
  #count: number;
  #fd = -1;
  #writer!: PieceWriter;
  #whole = new Bun.CryptoHasher("sha1");
  #hashedPieces = 0; // the whole-file SHA-1 covers pieces [0, #hashedPieces)
  #scratch: Uint8Array | undefined;
  #backlogBytes = 0;
  #paused = false;
  #have!: Bitfield;
  #picker!: PiecePicker;
  #book = new RequestBook({ maxRequestsPerPeer: MAX_REQUESTS_PER_PEER });
  #links = new Map<string, PeerLink>();
  #dialing = new Set<string>();
  #cooldown = new Map<string, number>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #lastRefreshMs = 0;
  #lastProgressMs = Date.now();
  #startedMs = Date.now();
  #endedMs: number | undefined;
  #bytesDone = 0;
  #rate = { atMs: Date.now(), bytes: 0, perSecond: 0 };
  /** What the web page shows (peers, piece sources, rates); read through view(). */
  #recorder: DownloadRecorder;

  constructor(spec: DownloadSpec, deps: DownloadDeps) {
    this.spec = spec;
    this.#deps = deps;
    this.#count = pieceCount(spec.sizeBytes);
    this.#recorder = new DownloadRecorder(this.#count);
  }

  /** Opens or resumes the temporary file, verifies what it holds, starts serving and fetching. */
  async start(): Promise<void> {
    const { spec } = this;
    const resuming = existsSync(spec.partPath);
    this.#fd = openSync(spec.partPath, resuming ? "r+" : "w+");
    ftruncateSync(this.#fd, spec.sizeBytes);
    // Only a file left by an earlier run can hold verified pieces: a new one is all holes.
    this.#have = resuming ? this.#verifyExisting() : new Bitfield(this.#count);
    this.#writer = new PieceWriter(this.#fd, {
      written: (index, data) => {
        this.#onWritten(index, data);
        this.#release(data);
      },
      failed: (data, message) => {
        this.#release(data);
        this.#fail(`cannot write ${spec.partPath}: ${message}`);
      },
    });
    this.#hashPrefix();
    this.resumedPieces = this.#have.count();
    for (let i = 0; i < this.#count; i++) if (this.#have.has(i)) this.#recorder.resumed(i);
    this.#bytesDone = this.#haveBytes();
    this.#picker = new PiecePicker(this.#count, { rng: Math.random, have: this.#have });
    this.#deps.catalog.add({
      group: spec.group,
      name: spec.name,
      path: spec.partPath,
      sizeBytes: spec.sizeBytes,
      have: this.#have,
    });
    if (this.#hashedPieces === this.#count) return this.#finish();
    this.#timer = setInterval(() => this.#tick(), TICK_MS);
    await this.#refreshPeers();
  }

  /** Stops fetching (logout, exit); the temporary file stays for a later resume. */
  stop(): void {
    clearInterval(this.#timer);
    for (const link of this.#links.values()) link.close("download stopped");
    this.#links.clear();
    const fd = this.#fd;
    this.#fd = -1;
    if (fd >= 0) void this.#writer.idle().then(() => closeSync(fd)); // never under a pending write
  }

  /** `42% 12.3 MB/s 3 peers` and the like. */
  progress(): {
    percent: number;
    bytesPerSecond: number;
    peers: number;
    elapsedMs: number;
    duplicates: number;
  } {
    const percent =
      this.spec.sizeBytes === 0 ? 100 : Math.floor((100 * this.#bytesDone) / this.spec.sizeBytes);
    const c = this.#book.counters();
    return {
      percent,
      bytesPerSecond: this.#rate.perSecond,
      peers: this.#links.size,
      elapsedMs: (this.#endedMs ?? Date.now()) - this.#startedMs,
      duplicates: c.duplicatesReceived,
    };
  }

  /** A read-only snapshot for the web page. */
  view(): DownloadView {
    const p = this.progress();
    return {
      group: this.spec.group,
      name: this.spec.name,
      dest: this.spec.dest,
      sizeBytes: this.spec.sizeBytes,
      state: this.state,
      reason: this.reason,
      percent: p.percent,
      bytesDone: this.#bytesDone,
      bytesPerSecond: this.state === "downloading" ? p.bytesPerSecond : 0,
      secondsLeft:
        this.state === "downloading"
          ? secondsLeft(this.spec.sizeBytes - this.#bytesDone, p.bytesPerSecond)
          : null,
      elapsedMs: p.elapsedMs,
      pieceCount: this.#count,
      waiting: this.#waiting(),
      ...this.#recorder.snapshot(),
    };
  }

  /** Why a running download makes no progress, when no connected peer can help. */
  #waiting(): string | null {
    if (this.state !== "downloading" || !this.#picker || this.#picker.canProgress()) return null;
    const leftS = Math.max(0, Math.ceil((GIVE_UP_MS - (Date.now() - this.#lastProgressMs)) / 1000));
    return `no connected peer has a missing piece: asking the tracker for peers every second; gives up in ${leftS} s without progress`;
  }

  #verifyExisting(): Bitfield {
    const have = new Bitfield(this.#count);
    const buffer = new Uint8Array(PIECE_BYTES);
    for (let i = 0; i < this.#count; i++) {
      const length = pieceLength(this.spec.sizeBytes, i);
      const piece = buffer.subarray(0, length);
      if (
        readSync(this.#fd, piece, 0, length, i * PIECE_BYTES) === length &&
        verifyPiece(this.spec.pieces, i, piece)
      )
        have.set(i);
    }
    return have;
  }

  #haveBytes(): number {
    let bytes = 0;
    for (let i = 0; i < this.#count; i++) if (this.#have.has(i)) bytes += pieceLength(this.spec.sizeBytes, i);
    return bytes;
  }

  async #refreshPeers(): Promise<void> {
    this.#lastRefreshMs = Date.now();
    const peers = await this.#deps.fetchPeers().catch((): string[] => []);
    const session = this.#deps.session();
    if (this.state !== "downloading" || !session) return;
    const now = Date.now();
    const stuck = !this.#picker.canProgress();
    for (const peer of peers) {
      if (this.#links.size + this.#dialing.size >= MAX_PEERS) break;
      if (peer === this.#deps.selfPeer || this.#links.has(peer) || this.#dialing.has(peer)) continue;
      // A cooldown only defers a peer while others can serve us: when nobody connected has a
      // missing piece (say after a partition heals), every peer not caught lying is tried again.
      const until = this.#cooldown.get(peer) ?? 0;
      if (until > now && (until === Infinity || !stuck)) continue;
      this.#dial(peer, session);
    }
  }

  #dial(peer: string, session: string): void {
    this.#dialing.add(peer);
    this.#recorder.peerState(peer, "connecting");
    const id = {
      group: this.spec.group,
      name: this.spec.name,
      selfPeer: this.#deps.selfPeer,
      session,
      pieceCount: this.#count,
      trust: this.#deps.trust,
    };
    PeerLink.open(peer, id, this.#events, { pool: pieceBodies, log: this.#deps.log })
      .then((link) => {
        if (this.state !== "downloading") return link.close("download over");
        this.#links.set(peer, link);
        this.#recorder.peerState(peer, "connected");
        if (this.#paused) link.pause();
      })
      .catch((err: unknown) => {
        this.#cooldown.set(peer, Date.now() + COOLDOWN_MS);
        this.#recorder.peerState(peer, "cooling", `cannot connect: ${messageOf(err)}`);
      })
      .finally(() => this.#dialing.delete(peer));
  }

  #events = {
    ready: (link: PeerLink, have: Bitfield) => {
      this.#picker.addPeer(link.peer, have);
      this.#recorder.peerHolds(link.peer, have.count());
      this.#fill(link);
    },
    have: (link: PeerLink, index: number) => {
      if (this.#picker.peerHas(link.peer, index)) this.#recorder.peerGained(link.peer);
      this.#fill(link);
    },
    reject: (link: PeerLink, index: number) => {
      // It announced the piece but will not send it: its bitfield cannot be trusted any more.
      this.#cooldown.set(link.peer, Date.now() + COOLDOWN_MS);
      this.#drop(link, `rejected piece ${index} it had announced`);
    },
    piece: (link: PeerLink, index: number, data: Uint8Array) => this.#onPiece(link, index, data),
    closed: (link: PeerLink, reason: string) => {
      if (this.#links.get(link.peer) === link) this.#links.delete(link.peer);
      this.#recorder.peerState(link.peer, "closed", reason);
      this.#picker?.removePeer(link.peer);
      this.#book.removePeer(link.peer);
      // Our own closes were logged when decided (#drop); say why a peer hung up on us.
      if (!link.closedByUs && reason !== "connection closed" && this.state === "downloading")
        this.#deps.log(`peer ${link.peer}: ${reason}`);
      this.#fillAll();
    },
  };

  /** A piece arrived: written if still wanted and its SHA-1 checks, counted either way. */
  #onPiece(link: PeerLink, index: number, data: Uint8Array): void {
    paceGarbage(data.byteLength); // every piece read, wanted or not (endgame copies, late ones)
    this.#hold(data);
    if (!this.#fetching() || !this.#book.has(link.peer, index)) {
      this.#release(data); // cancelled, unasked or stopped
      return;
    }
    if (this.#picker.has(index)) {
      this.#release(data);
      this.#book.received(link.peer, index, { duplicate: true });
      this.#fill(link);
      return;
    }
    this.#book.received(link.peer, index);
    if (
      data.byteLength !== pieceLength(this.spec.sizeBytes, index) ||
      !verifyPiece(this.spec.pieces, index, data)
    ) {
      this.#release(data);
      this.#picker.release(link.peer, index);
      this.#recorder.failedCheck(index, link.peer);
      if (this.#book.strike(link.peer)) {
        this.#cooldown.set(link.peer, Infinity); // keeps lying: never again for this download
        this.#drop(
          link,
          `dropped after ${this.#book.strikes(link.peer)} pieces that failed their SHA-1 check`,
        );
      }
      this.#fillAll();
      return;
    }
    for (const other of this.#picker.markVerified(index, link.peer)) {
      this.#book.remove(other, index);
      this.#links.get(other)?.cancel(index);
    }
    this.#recorder.verified(index, link.peer, data.byteLength);
    this.#writer.write(index, data);
    this.#bytesDone += data.byteLength;
    this.#rate.bytes += data.byteLength;
    this.#lastProgressMs = Date.now();
    this.#fill(link);
  }

  /** Stops using a peer, saying why at once (its close event may come after the download ends). */
  #drop(link: PeerLink, reason: string): void {
    this.#deps.log(`peer ${link.peer}: ${reason}`);
    const forGood = this.#cooldown.get(link.peer) === Infinity;
    this.#recorder.peerState(link.peer, forGood ? "dropped" : "cooling", reason);
    link.close(reason);
  }

  /** Downloading and not stopped (a stopped download's descriptor is closed or closing). */
  #fetching(): boolean {
    return this.state === "downloading" && this.#fd >= 0;
  }

  /** Counts a received piece into the backlog; past the high mark, peers wait. */
  #hold(data: Uint8Array): void {
    this.#backlogBytes += data.byteLength;
    if (!this.#paused && this.#backlogBytes > BACKLOG_HIGH_BYTES) this.#setPaused(true);
  }

  /** A piece leaves the backlog (written or turned away) and its buffer goes back to the pool. */
  #release(data: Uint8Array): void {
    this.#backlogBytes -= data.byteLength;
    pieceBodies.give(data);
    if (this.#paused && this.#backlogBytes < BACKLOG_LOW_BYTES) this.#setPaused(false);
  }

  #setPaused(paused: boolean): void {
    this.#paused = paused;
    for (const link of this.#links.values()) paused ? link.pause() : link.resume();
  }

  #onWritten(index: number, data: Uint8Array): void {
    if (!this.#fetching()) return;
    this.#deps.catalog.announce(this.spec.group, this.spec.name, index); // on disk: served from now on
    this.#hashPrefix(index, data);
    if (this.#picker.isComplete() && this.#writer.pending === 0) this.#finish();
  }

  /** Feeds the whole-file SHA-1 every written piece that extends the hashed prefix. */
  #hashPrefix(justIndex = -1, justData?: Uint8Array): void {
    while (this.#hashedPieces < this.#count && this.#have.has(this.#hashedPieces)) {
      const i = this.#hashedPieces;
      let piece = i === justIndex ? justData : undefined;
      if (!piece) {
        const length = pieceLength(this.spec.sizeBytes, i);
        this.#scratch ??= new Uint8Array(PIECE_BYTES);
        piece = this.#scratch.subarray(0, length);
        if (readSync(this.#fd, piece, 0, length, i * PIECE_BYTES) !== length) {
          this.#fail("the temporary file shrank while downloading");
          return;
        }
      }
      this.#whole.update(piece);
      this.#hashedPieces++;
    }
  }

  #fill(link: PeerLink): void {
    while (this.#book.freeSlots(link.peer) > 0) {
      const index = this.#picker.pick(link.peer);
      if (index === undefined) return;
      this.#picker.markRequested(link.peer, index);
      this.#book.add(link.peer, index, Date.now());
      link.request(index);
    }
  }

  #fillAll(): void {
    if (this.state !== "downloading") return;
    for (const link of this.#links.values()) this.#fill(link);
  }

  #tick(): void {
    const now = Date.now();
    const seconds = (now - this.#rate.atMs) / 1000;
    this.#rate = { atMs: now, bytes: 0, perSecond: seconds > 0 ? this.#rate.bytes / seconds : 0 };
    this.#recorder.tick(this.#rate.perSecond, seconds);
    for (const late of this.#book.timedOut(now, REQUEST_TIMEOUT_MS)) {
      // A peer that stalls on a request is dropped for a while; its pieces go to the others.
      this.#cooldown.set(late.peerId, now + COOLDOWN_MS);
      const link = this.#links.get(late.peerId);
      if (link) this.#drop(link, `no answer to piece ${late.pieceIndex} in ${REQUEST_TIMEOUT_MS / 1000} s`);
    }
    // No progress for a while and no connected peer holds a missing piece (no peer at all, or
    // only other downloaders as far behind): give up rather than wait forever.
    const stuck = !this.#picker.canProgress();
    if (stuck && now - this.#lastProgressMs > GIVE_UP_MS) {
      this.#fail("no live peer has the missing pieces");
      return;
    }
    if (stuck || now - this.#lastRefreshMs >= REFRESH_PEERS_MS) void this.#refreshPeers();
  }

  #finish(): void {
    clearInterval(this.#timer);
    for (const link of this.#links.values()) link.close("download complete");
    if (this.#hashedPieces !== this.#count) {
      this.#fail("finished with pieces missing from the whole-file check");
      return;
    }
    const sha1 = this.#whole.digest();
    if (!this.spec.sha1.every((b, i) => b === sha1[i])) {
      this.#fail("the whole file's SHA-1 does not match");
      return;
    }
    // No fsync: the rename is atomic for every reader, and a killed process loses nothing the
    // kernel holds. Only a power cut could leave a damaged file (the next hash check shows it).
    closeSync(this.#fd);
    this.#fd = -1;
    renameSync(this.spec.partPath, this.spec.dest);
    const served = this.#deps.catalog.get(this.spec.group, this.spec.name);
    if (served?.path === this.spec.partPath) served.path = this.spec.dest;
    this.#bytesDone = this.spec.sizeBytes;
    this.state = "complete";
    this.#endedMs = Date.now();
    const seconds = (this.#endedMs - this.#startedMs) / 1000;
    const fetched = Math.max(0, this.spec.sizeBytes - this.resumedPieces * PIECE_BYTES); // about: the last piece is shorter
    this.#recorder.ended(seconds > 0 ? fetched / seconds : 0);
    const counters = this.#book.counters();
    this.refetchedPieces = counters.duplicatesReceived;
    this.badPieces = counters.badPieces;
    this.#deps.onComplete(this);
  }

  #fail(reason: string): void {
    this.state = "failed";
    this.reason = reason;
    this.#endedMs = Date.now();
    this.stop();
    const served = this.#deps.catalog.get(this.spec.group, this.spec.name);
    if (served?.path === this.spec.partPath) this.#deps.catalog.remove(this.spec.group, this.spec.name);
    this.#deps.onFailed(this);
  }
}
