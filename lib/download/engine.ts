// Shell: one download. Draws pieces from every peer that has them (rarest first, several in
// flight per peer, endgame at the end), checks each piece's SHA-1 before writing it into a
// temporary file (written off the main thread), forwards each piece while it arrives and serves
// it from disk once it is written (lib/peer/arriving.ts), hashes
// the whole file as its verified prefix grows, and renames the file into place only after the
// whole file's SHA-1 matches.
import { closeSync, existsSync, ftruncateSync, openSync, readSync, renameSync } from "node:fs";
import { messageOf } from "../errors.ts";
import { ArrivingPiece } from "../peer/arriving.ts";
import type { Catalog } from "../peer/catalog.ts";
import { Bitfield } from "../pieces/bitfield.ts";
import { PIECE_BYTES, pieceCount, pieceLength } from "../pieces/constants.ts";
import { verifyPiece } from "../pieces/hash.ts";
import { BufferPool } from "../wire/buffer_pool.ts";
import { PART_FRAME_OVERHEAD_BYTES } from "../wire/codec.ts";
import { type CoreOptions, DownloadCore, type Effect } from "./core.ts";
import { PeerLink, type SeederTrust } from "./peer_link.ts";
import { PieceWriter } from "./piece_writer.ts";
import { DownloadRecorder, type DownloadView, secondsLeft } from "./view.ts";

const TICK_MS = 1_000;
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
  /** The core's limits and timings where they differ from DEFAULT_CORE_OPTIONS (--give-up-after). */
  core?: Partial<CoreOptions> | undefined;
}

/**
 * What a download leaves for the collector: the socket reads themselves are freed as soon as
 * they are decoded (lib/wire/connection.ts releaseChunk), so only small objects remain (decoded
 * messages, effects), and the collector lets a few MiB of them pile up at loopback speed. A
 * full collection every GC_PACE_BYTES received keeps that flat (1 GiB from 4 seeders, peak RSS:
 * every 32 MiB 60.3-61.4 MiB, every 8 MiB 58.3-60.8, never 62.8-66.7; before the reads were
 * freed, every 2 MiB was needed: 2 s of a 7.8 s download). Not more often: each one marks the
 * whole heap on the main thread, and every 8 MiB they took 11% to 17% of each downloader's
 * main thread in the 16-peer swarm lab, where every process shares two cores (2026-12-03:
 * every 32 MiB, 1 GiB on loopback took 2.24-2.32 s instead of 2.42-2.55 s from 4 seeders).
 */
const GC_PACE_BYTES = 32 * 1024 * 1024;
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
const pieceBodies = new BufferPool({ bufferBytes: PIECE_BYTES + PART_FRAME_OVERHEAD_BYTES, maxIdle: 16 });

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
  #writer: PieceWriter | undefined;
  #whole = new Bun.CryptoHasher("sha1");
  #hashedPieces = 0; // the whole-file SHA-1 covers pieces [0, #hashedPieces)
  #scratch: Uint8Array | undefined;
  #backlogBytes = 0;
  #paused = false;
  /** Pieces on disk: the catalog serves them (the core keeps its own record of what is verified). */
  #onDisk: Bitfield;
  #core: DownloadCore | undefined;
  #links = new Map<string, PeerLink>();
  /** The pieces forwarded while they arrive, by the link bringing each (one copy per piece). */
  #arrivals = new Map<PeerLink, ArrivingPiece>();
  /** Pieces arriving here now (partly here, from any link), as last told to seeders. */
  #arrivingNow = 0;
  /** The attempt number of each dial in progress; an abandoned attempt is not here. */
  #dialing = new Map<string, number>();
  #attempts = 0;
  /** Logs a line about this download, naming it (a client may run many). */
  #log(line: string): void {
    this.#deps.log(`${this.spec.group}/${this.spec.name}: ${line}`);
  }

  /** The last reason a dial of each peer failed, so that a peer that stays away is logged once. */
  #dialFailures = new Map<string, string>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #unwatchPeers: (() => void) | undefined;
  #startedMs = Date.now();
  #endedMs: number | undefined;
  #finalBytes = 0;
  /** What the web page shows (peers, piece sources, rates); read through view(). */
  #recorder: DownloadRecorder;
  #lastTickMs = Date.now();

  constructor(spec: DownloadSpec, deps: DownloadDeps) {
    this.spec = spec;
    this.#deps = deps;
    this.#count = pieceCount(spec.sizeBytes);
    this.#onDisk = new Bitfield(this.#count);
    this.#recorder = new DownloadRecorder(this.#count);
  }

  /** Opens or resumes the temporary file, verifies what it holds, starts serving and fetching. */
  async start(): Promise<void> {
    const { spec } = this;
    const resuming = existsSync(spec.partPath);
    this.#fd = openSync(spec.partPath, resuming ? "r+" : "w+");
    ftruncateSync(this.#fd, spec.sizeBytes);
    // Only a file left by an earlier run can hold verified pieces: a new one is all holes.
    this.#onDisk = resuming ? this.#verifyExisting() : new Bitfield(this.#count);
    this.#writer = new PieceWriter(this.#fd, {
      written: (index, data) => {
        this.#release(data);
        if (this.#fetching()) {
          this.#onDisk.set(index);
          this.#hashPrefix(index, data);
          this.#run(this.#core?.handle({ t: "written", nowMs: Date.now(), index }) ?? []);
        }
      },
      failed: (data, message) => {
        this.#release(data);
        this.#fail(`cannot write ${spec.partPath}: ${message}`);
      },
    });
    this.#hashPrefix();
    this.resumedPieces = this.#onDisk.count();
    for (let i = 0; i < this.#count; i++) if (this.#onDisk.has(i)) this.#recorder.resumed(i);
    const now = Date.now();
    this.#core = new DownloadCore(
      { sizeBytes: spec.sizeBytes, selfPeer: this.#deps.selfPeer, have: this.#onDisk, nowMs: now },
      this.#deps.core ?? {},
      Math.random,
    );
    this.#deps.catalog.add({
      group: spec.group,
      name: spec.name,
      path: spec.partPath,
      sizeBytes: spec.sizeBytes,
      have: this.#onDisk.clone(),
    });
    this.#unwatchPeers = this.#deps.catalog.watchPeers(spec.group, spec.name, (peer, key) =>
      this.#introduce(peer, key),
    );
    const first = this.#core.start(now);
    if (this.#core.progress(now).bytesVerified < spec.sizeBytes)
      this.#timer = setInterval(() => this.#tick(), TICK_MS);
    this.#run(first);
  }

  /** Stops fetching (logout, exit); the temporary file stays for a later resume. */
  stop(): void {
    clearInterval(this.#timer);
    this.#unwatchPeers?.();
    this.#loseArrivals();
    for (const link of this.#links.values()) link.close("download stopped");
    this.#links.clear();
    const fd = this.#fd;
    this.#fd = -1;
    if (fd >= 0) void (this.#writer?.idle() ?? Promise.resolve()).then(() => closeSync(fd)); // never under a pending write
  }

  /** A peer connected to us for this file: we can fetch from it too, at once. */
  #introduce(peer: string, key: string): void {
    if (!this.#fetching()) return;
    this.#deps.trust.vouch(peer, key);
    this.#run(this.#core?.handle({ t: "peers", nowMs: Date.now(), peers: [peer], introduced: true }) ?? []);
  }

  /** `42% 12.3 MB/s 3 peers` and the like. */
  progress(): {
    percent: number;
    bytesPerSecond: number;
    peers: number;
    elapsedMs: number;
    duplicates: number;
  } {
    const now = Date.now();
    const p = this.#core?.progress(now);
    const done = this.state === "complete" ? this.spec.sizeBytes : (p?.bytesVerified ?? this.#finalBytes);
    const percent = this.spec.sizeBytes === 0 ? 100 : Math.floor((100 * done) / this.spec.sizeBytes);
    return {
      percent,
      bytesPerSecond: this.state === "downloading" ? (p?.bytesPerSecond ?? 0) : 0,
      peers: this.state === "downloading" ? this.#links.size : 0,
      elapsedMs: (this.#endedMs ?? now) - this.#startedMs,
      duplicates: p?.duplicates ?? 0,
    };
  }

  /** A read-only snapshot for the web page. */
  view(): DownloadView {
    const p = this.progress();
    const done = this.#bytesDone();
    return {
      group: this.spec.group,
      name: this.spec.name,
      dest: this.spec.dest,
      sizeBytes: this.spec.sizeBytes,
      state: this.state,
      reason: this.reason,
      percent: p.percent,
      bytesDone: done,
      bytesPerSecond: this.state === "downloading" ? p.bytesPerSecond : 0,
      secondsLeft:
        this.state === "downloading" ? secondsLeft(this.spec.sizeBytes - done, p.bytesPerSecond) : null,
      elapsedMs: p.elapsedMs,
      pieceCount: this.#count,
      waiting: this.#waiting(),
      ...this.#recorder.snapshot(),
    };
  }

  #bytesDone(): number {
    if (this.state === "complete") return this.spec.sizeBytes;
    return this.#core?.progress(Date.now()).bytesVerified ?? this.#finalBytes;
  }

  /** Why a running download makes no progress, when no connected peer can help. */
  #waiting(): string | null {
    const core = this.#core;
    if (this.state !== "downloading" || !core || core.canProgress()) return null;
    const leftS = Math.max(0, Math.ceil((core.options.giveUpMs - core.stalledForMs(Date.now())) / 1000));
    return `no connected peer has a missing piece: asking the tracker for peers every second; gives up in ${leftS} s without progress`;
  }

  #tick(): void {
    const now = Date.now();
    const seconds = (now - this.#lastTickMs) / 1000;
    this.#lastTickMs = now;
    this.#recorder.tick(this.#core?.progress(now).bytesPerSecond ?? 0, seconds);
    this.#run(this.#core?.handle({ t: "tick", nowMs: now }) ?? []);
  }

  /** Carries out the core's effects, in order. */
  #run(effects: Effect[]): void {
    for (const e of effects) {
      switch (e.t) {
        case "dial":
          this.#dial(e.peer);
          break;
        case "request":
          this.#links.get(e.peer)?.request(e.index, e.missing, this.#arrivingNow);
          break;
        case "cancel":
          this.#links.get(e.peer)?.cancel(e.index);
          break;
        case "decline":
          this.#links.get(e.peer)?.decline();
          break;
        case "drop": {
          this.#dialing.delete(e.peer); // a dial in progress is abandoned
          const link = this.#links.get(e.peer);
          if (!e.quiet) {
            this.#log(`peer ${e.peer}: ${e.why}`);
            this.#recorder.peerState(e.peer, e.forGood ? "dropped" : "cooling", e.why);
          }
          link?.close(e.why);
          break;
        }
        case "write":
          break; // handled where the piece's body is (#onPiece)
        case "announce":
          this.#deps.catalog.announce(this.spec.group, this.spec.name, e.index); // on disk: served from now on
          break;
        case "refresh_peers":
          void this.#refreshPeers();
          break;
        case "finish":
          this.#finish();
          break;
        case "give_up":
          this.#fail(e.why);
          break;
      }
    }
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

  async #refreshPeers(): Promise<void> {
    const peers = await this.#deps.fetchPeers().catch(() => [] as string[]);
    if (!this.#fetching() || !this.#deps.session()) return;
    this.#run(this.#core?.handle({ t: "peers", nowMs: Date.now(), peers }) ?? []);
  }

  #dial(peer: string): void {
    const session = this.#deps.session();
    if (!session) {
      if (this.#dialFailures.get(peer) !== "not logged in")
        this.#log(`peer ${peer}: not dialled: not logged in`);
      this.#dialFailures.set(peer, "not logged in");
      this.#run(this.#core?.handle({ t: "dial_failed", nowMs: Date.now(), peer }) ?? []);
      return;
    }
    const id = {
      group: this.spec.group,
      name: this.spec.name,
      selfPeer: this.#deps.selfPeer,
      session,
      sizeBytes: this.spec.sizeBytes,
      pieceCount: this.#count,
      trust: this.#deps.trust,
    };
    this.#recorder.peerState(peer, "connecting");
    const attempt = ++this.#attempts;
    this.#dialing.set(peer, attempt);
    // An attempt the core abandoned (no answer in time) may still connect, or fail, later:
    // only the peer's latest attempt may reach the core.
    const current = () => this.#dialing.get(peer) === attempt;
    PeerLink.open(peer, id, this.#events, { pool: pieceBodies, log: this.#deps.log })
      .then((link) => {
        if (!current()) return link.close("dial abandoned");
        this.#dialing.delete(peer);
        this.#dialFailures.delete(peer);
        if (!this.#fetching()) return link.close("download over");
        this.#links.set(peer, link);
        this.#recorder.peerState(peer, "connected");
        if (this.#paused) link.pause();
      })
      .catch((err: unknown) => {
        if (!current()) return;
        this.#dialing.delete(peer);
        const why = `cannot connect: ${messageOf(err)}`;
        // Said once per peer and reason: a peer that stays away is dialled again every tick.
        if (this.#dialFailures.get(peer) !== why) this.#log(`peer ${peer}: ${why}`);
        this.#dialFailures.set(peer, why);
        this.#recorder.peerState(peer, "cooling", why);
        this.#run(this.#core?.handle({ t: "dial_failed", nowMs: Date.now(), peer }) ?? []);
      });
  }

  #events = {
    ready: (link: PeerLink, have: Bitfield, superSeed: boolean) => {
      this.#recorder.peerHolds(link.peer, have.count());
      this.#run(
        this.#core?.handle({ t: "peer_ready", nowMs: Date.now(), peer: link.peer, have, superSeed }) ?? [],
      );
    },
    // A piece the peer is still receiving counts as held: it sends it as it arrives.
    have: (link: PeerLink, index: number) => {
      this.#recorder.peerGained(link.peer);
      this.#run(this.#core?.handle({ t: "have", nowMs: Date.now(), peer: link.peer, index }) ?? []);
    },
    arriving: (link: PeerLink, index: number, bytes: Uint8Array, received: number, fresh: boolean) => {
      if (fresh) this.#countArriving();
      this.#onArriving(link, index, bytes, received, fresh);
    },
    reject: (link: PeerLink, index: number) => {
      this.#countArriving();
      this.#loseArrival(link);
      this.#run(this.#core?.handle({ t: "reject", nowMs: Date.now(), peer: link.peer, index }) ?? []);
    },
    busy: (link: PeerLink, index: number) => {
      this.#run(this.#core?.handle({ t: "busy", nowMs: Date.now(), peer: link.peer, index }) ?? []);
    },
    haveAll: (link: PeerLink) => {
      this.#run(this.#core?.handle({ t: "have_all", nowMs: Date.now(), peer: link.peer }) ?? []);
    },
    resume: (link: PeerLink) => {
      this.#run(this.#core?.handle({ t: "resume", nowMs: Date.now(), peer: link.peer }) ?? []);
    },
    piece: (link: PeerLink, index: number, data: Uint8Array) => this.#onPiece(link, index, data),
    closed: (link: PeerLink, reason: string) => {
      this.#loseArrival(link); // its buffer goes back to the pool
      if (this.#links.get(link.peer) !== link) return; // an abandoned attempt: the core forgot it
      this.#links.delete(link.peer);
      this.#countArriving();
      this.#recorder.peerState(link.peer, "closed", reason);
      // Our own closes were logged when decided (drop effects); say why a peer hung up on us.
      if (!link.closedByUs && reason !== "connection closed" && this.state === "downloading")
        this.#log(`peer ${link.peer}: ${reason}`);
      this.#run(this.#core?.handle({ t: "peer_closed", nowMs: Date.now(), peer: link.peer }) ?? []);
    },
  };

  /**
   * Recounts the pieces partly here; on a change, tells each seeder that holds requests of ours
   * not yet begun (it serves downloaders receiving the fewest first, lib/peer/serve_queue.ts).
   * `whole`: a link whose piece just came whole, its request not yet settled by the core.
   */
  #countArriving(whole?: PeerLink): void {
    let count = 0;
    for (const link of this.#links.values()) if (link.receiving) count++;
    if (count === this.#arrivingNow) return;
    this.#arrivingNow = count;
    const core = this.#core;
    if (!core || !this.#fetching()) return;
    for (const link of this.#links.values())
      if (core.requestsAt(link.peer) - (link === whole ? 1 : 0) > (link.receiving ? 1 : 0))
        link.arriving(count);
  }

  /** Part of a piece came in: forwarded from here while it arrives, if no other copy of it is. */
  #onArriving(link: PeerLink, index: number, bytes: Uint8Array, received: number, fresh: boolean): void {
    let arrival = this.#arrivals.get(link);
    if (arrival && fresh) {
      // Started over (the link goes on only with the piece it began): what was forwarded of it may not be the piece.
      this.#loseArrival(link);
      arrival = undefined;
    }
    if (!arrival) {
      if (!fresh || !this.#fetching() || this.#onDisk.has(index)) return;
      arrival = new ArrivingPiece(index, bytes);
      if (!this.#deps.catalog.arriving(this.spec.group, this.spec.name, arrival)) return;
      this.#arrivals.set(link, arrival);
    }
    arrival.grew(received);
  }

  #loseArrival(link: PeerLink): void {
    this.#arrivals.get(link)?.lost();
    this.#arrivals.delete(link);
  }

  #loseArrivals(): void {
    for (const arrival of this.#arrivals.values()) arrival.lost();
    this.#arrivals.clear();
  }

  /** A piece arrived: written if the core wants it and its SHA-1 checks. */
  #onPiece(link: PeerLink, index: number, data: Uint8Array): void {
    paceGarbage(data.byteLength); // every piece read, wanted or not (endgame copies, late ones)
    this.#countArriving(link);
    this.#hold(data);
    const arrival = this.#arrivals.get(link);
    this.#arrivals.delete(link);
    if (!this.#fetching() || !this.#core || !this.#writer) {
      arrival?.lost();
      this.#release(data);
      return;
    }
    let checked: boolean | undefined;
    const effects = this.#core.handle({
      t: "piece",
      nowMs: Date.now(),
      peer: link.peer,
      index,
      bytes: data.byteLength,
      check: () => {
        checked = verifyPiece(this.spec.pieces, index, data);
        return checked;
      },
    });
    // Forwards of it wait for the disk (checked), or start over from the copy we get (not checked).
    if (checked === true) arrival?.whole();
    else arrival?.lost();
    if (effects.some((e) => e.t === "write")) {
      this.#recorder.verified(index, link.peer, data.byteLength);
      this.#writer.write(index, data);
    } else {
      if (checked === false) this.#recorder.failedCheck(index, link.peer);
      this.#release(data);
    }
    this.#run(effects);
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

  /** Feeds the whole-file SHA-1 every written piece that extends the hashed prefix. */
  #hashPrefix(justIndex = -1, justData?: Uint8Array): void {
    while (this.#hashedPieces < this.#count && this.#onDisk.has(this.#hashedPieces)) {
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

  #finish(): void {
    clearInterval(this.#timer);
    this.#unwatchPeers?.();
    for (const link of this.#links.values()) link.close("download complete");
    this.#links.clear();
    const p = this.#core?.progress(Date.now());
    this.refetchedPieces = p?.duplicates ?? 0;
    this.badPieces = p?.badPieces ?? 0;
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
    this.state = "complete";
    this.#endedMs = Date.now();
    const seconds = (this.#endedMs - this.#startedMs) / 1000;
    const fetched = Math.max(0, this.spec.sizeBytes - this.resumedPieces * PIECE_BYTES); // about: the last piece is shorter
    this.#recorder.ended(seconds > 0 ? fetched / seconds : 0);
    this.#deps.onComplete(this);
  }

  #fail(reason: string): void {
    if (this.state !== "downloading") return;
    this.#loseArrivals();
    this.#finalBytes = this.#core?.progress(Date.now()).bytesVerified ?? 0;
    this.state = "failed";
    this.reason = reason;
    this.#endedMs = Date.now();
    this.stop();
    const served = this.#deps.catalog.get(this.spec.group, this.spec.name);
    if (served?.path === this.spec.partPath) this.#deps.catalog.remove(this.spec.group, this.spec.name);
    this.#deps.onFailed(this);
  }
}
