// Shell: serves pieces to other peers. Only a logged-in member of the file's group gets any:
// the downloader answers our nonce with a proof, bound to this TLS connection, that our
// tracker checks along with the key the downloader presented. Sends each piece in parts, read
// from disk straight into their frames, or, for a piece still arriving here (lib/peer/arriving.ts),
// copied from it as it comes in, the last part once our copy is checked and on disk; and stops
// reading requests while a slow peer's outbox is full.

import { closeSync, openSync, readvSync } from "node:fs";
import type { Socket, TCPSocketListener } from "bun";
import { messageOf, ProtocolError } from "../errors.ts";
import type { TlsIdentity } from "../identity/key_file.ts";
import { PIECE_BYTES, pieceLength } from "../pieces/constants.ts";
import { AddressLimit } from "../wire/address_limit.ts";
import { BufferPool } from "../wire/buffer_pool.ts";
import { PART_FRAME_OVERHEAD_BYTES, partFrame, partFramesFrom } from "../wire/codec.ts";
import { Connection } from "../wire/connection.ts";
import {
  MAX_CONNECTIONS_PER_ADDRESS,
  MAX_HANDSHAKES_PER_ADDRESS,
  MAX_UNAUTHENTICATED_FRAME_BYTES,
} from "../wire/limits.ts";
import { PIECE_PART_BYTES, parsePeerMessage, WHOLE_PIECE_MS } from "../wire/peer_protocol.ts";
import { listenTls, type PeerKey, secureHandlers } from "../wire/tls.ts";
import type { ArrivingPiece } from "./arriving.ts";
import type { Catalog, Served } from "./catalog.ts";
import { SendSlots } from "./send_slots.ts";
import { DEFAULT_QUEUED_TOTAL, ServeQueue } from "./serve_queue.ts";
import { type Reveal, SuperSeed } from "./super_seed.ts";

/** Requests a downloader may queue at one seeder (it pipelines fewer; this is the hard cap). */
const MAX_QUEUED_REQUESTS = 64;
/** Proofs checked with our tracker at once; more hellos are turned away (a flood of strangers). */
const MAX_CONCURRENT_CHECKS = 16;

/**
 * Frames of parts being sent, reused once the kernel has taken them: serving at GB/s with a
 * fresh frame per part would leave that much garbage and page faults per GB served.
 */
const partBuffers = new BufferPool({
  bufferBytes: PIECE_PART_BYTES + PART_FRAME_OVERHEAD_BYTES,
  maxIdle: 16,
});
/** The same for whole pieces read from disk, all their parts in one buffer. */
const pieceBuffers = new BufferPool({
  bufferBytes: PIECE_BYTES + Math.ceil(PIECE_BYTES / PIECE_PART_BYTES) * PART_FRAME_OVERHEAD_BYTES,
  maxIdle: 16,
});

/** One piece on its way to one downloader, part by part. */
interface Stream {
  index: number;
  length: number;
  /** Bytes sent so far. */
  offset: number;
  /** The copy arriving here that it forwards, while it does. */
  following: ArrivingPiece | undefined;
  unlisten: (() => void) | undefined;
  /** What it sent came from a copy that was lost: it starts over from the piece we get. */
  restart: boolean;
  /** A part waits for the kernel: nothing more until it is taken. */
  draining: boolean;
}

/** Asks our tracker whether `peer`, connected with key `who`, proved a live session in `group`. */
export type VerifyPeer = (
  group: string,
  peer: string,
  proof: { nonce: Uint8Array; mac: Uint8Array; who: PeerKey },
) => Promise<{ ok: true } | { ok: false; reason: string }>;

/** One downloader's connection: where its admission stands and what it asked for. */
interface PeerConn {
  /** Counted against its address's connection limit (released on close). */
  admitted: boolean;
  /** The key it presented, and this connection's channel binding. */
  who: PeerKey;
  nonce: Uint8Array;
  phase: "challenged" | "checking" | "serving";
  /** The file it was admitted to, once serving. */
  entry: Served | undefined;
  unwatch: (() => void) | undefined;
}

type Downloader = Connection<PeerConn>;

/** Starts the peer server on `host:port`. */
export function startPeerServer(options: {
  host: string;
  port: number;
  catalog: Catalog;
  verify: VerifyPeer;
  identity: TlsIdentity;
  log: (line: string) => void;
  /** A peer asked for a file not served here (it may still be listed as ours: see Files.notServed). */
  notServed?: (group: string, name: string) => void;
}): TCPSocketListener<Downloader> {
  const { catalog, verify, log } = options;
  const fds = new FileCache(catalog);
  let checking = 0; // proofs being checked with our tracker right now
  const perAddress = new AddressLimit(MAX_CONNECTIONS_PER_ADDRESS);
  const handshakes = new AddressLimit(MAX_HANDSHAKES_PER_ADDRESS);

  const queue = new ServeQueue<Downloader>({
    maxQueuedPerConnection: MAX_QUEUED_REQUESTS,
    maxQueuedTotal: DEFAULT_QUEUED_TOTAL,
  });
  /** Per file shared from here: what each downloader is shown while the swarm lacks a copy. */
  const superSeeds = new WeakMap<Served, SuperSeed<Downloader>>();
  /** The super-seedings still going on, ticked once a second (their offers age with time too). */
  const seeding = new Map<SuperSeed<Downloader>, Served>();
  /** Connections with a piece on its way: the next piece waits until this one is all sent. */
  const streams = new Map<Downloader, Stream>();
  /** How long the last piece each downloader said it got took to reach it. */
  const pieceMs = new WeakMap<Downloader, number>();
  /** Pieces on the wire until their downloader says each arrived: a few connections at a time. */
  const slots = new SendSlots<Downloader>();
  // A downloader that never says a piece arrived gives its slot back after a while.
  const expiry = setInterval(() => {
    if (slots.expire(Date.now())) pump();
    for (const [seed, entry] of seeding) {
      if (!seed.active || catalog.get(entry.group, entry.name) !== entry) seeding.delete(seed);
      else reveal(seed.tick());
    }
  }, 1_000);
  expiry.unref();
  let pumping = false;
  /**
   * Serves queued requests in the order ServeQueue decides, as SendSlots allows: a few
   * connections with a piece on the wire at once, and one frame per connection waiting for
   * the kernel.
   */
  const pump = () => {
    if (pumping) return;
    pumping = true;
    try {
      const ready = (c: Downloader) => !c.isClosed && !streams.has(c);
      for (;;) {
        // Connections with requests and no slot: while there are any, a slot holder's turn ends.
        const othersWaiting = queue.anyQueued((c) => ready(c) && slots.onWire(c) === 0);
        const next = queue.next((c) => ready(c) && slots.canSend(c, othersWaiting));
        if (!next) break;
        serve(next.conn, next.index);
      }
      for (const conn of queue.toResume()) conn.send({ t: "p_resume" });
    } finally {
      pumping = false;
    }
  };
  const serve = (conn: Downloader, index: number) => {
    const entry = conn.state.entry;
    if (!entry) return;
    if (catalog.get(entry.group, entry.name) !== entry) {
      // stop_share or logout: say so and hang up, rather than reject piece after piece.
      conn.send({ t: "p_refuse", reason: `"${entry.name}" is no longer shared here` });
      conn.end();
      queue.close(conn);
      return;
    }
    // A piece offered while it arrived (p_soon) is sent once here, even if that copy was lost.
    if (!entry.have.has(index) && !entry.soon?.has(index)) {
      conn.send({ t: "p_reject", index });
      return;
    }
    reveal(superSeeds.get(entry)?.sent(conn, index) ?? []);
    slots.sent(conn, index, Date.now());
    const stream: Stream = {
      index,
      length: pieceLength(entry.sizeBytes, index),
      offset: 0,
      following: undefined,
      unlisten: undefined,
      restart: false,
      draining: false,
    };
    streams.set(conn, stream);
    flow(conn, entry, stream);
  };
  /** Sends what it can of `stream`: from disk once the piece is here, else from its arriving copy. */
  const flow = (conn: Downloader, entry: Served, stream: Stream) => {
    if (streams.get(conn) !== stream || stream.draining) return;
    if (conn.isClosed) return endStream(conn);
    const { index, length } = stream;
    for (;;) {
      const arriving = entry.arriving?.get(index);
      if (stream.following && stream.following !== arriving) {
        // The copy it followed ended: checked (the rest comes from disk) or lost (all again).
        if (stream.following.state === "lost") stream.restart = true;
        stream.unlisten?.();
        stream.following = undefined;
        stream.unlisten = undefined;
      }
      let limit: number;
      if (entry.have.has(index)) limit = length;
      else if (arriving) {
        if (stream.following !== arriving) {
          stream.following = arriving;
          stream.unlisten = arriving.listen(() => flow(conn, entry, stream));
        }
        // The last part waits for our copy's check: a downloader never gets a whole bad piece from us.
        limit = Math.min(arriving.received, length - Math.min(PIECE_PART_BYTES, length));
      } else return; // neither here nor arriving: the piece's announcement wakes the stream
      if (stream.restart) {
        stream.restart = false;
        stream.offset = 0;
      }
      if (stream.offset >= length) {
        endStream(conn);
        pump();
        return;
      }
      if (stream.offset >= limit) return; // more of the arriving copy wakes it
      let frame: Uint8Array;
      let pool: BufferPool;
      if (arriving && !entry.have.has(index)) {
        const bytes = Math.min(PIECE_PART_BYTES, limit - stream.offset);
        const part = partFrame(index, stream.offset, bytes, (n) => partBuffers.take(n));
        part.frame.set(arriving.slice(stream.offset, stream.offset + bytes), part.dataOffset);
        frame = part.frame;
        pool = partBuffers;
        stream.offset += bytes;
      } else {
        // All the rest from disk, its parts in one buffer: one write to the socket per piece.
        const partBytes = (pieceMs.get(conn) ?? Infinity) < WHOLE_PIECE_MS ? length : PIECE_PART_BYTES;
        const rest = partFramesFrom(index, stream.offset, length, partBytes, (n) => pieceBuffers.take(n));
        const slices = rest.parts.map((p) => rest.frames.subarray(p.dataOffset, p.dataOffset + p.bytes));
        const unread = readInto(fds, entry, slices, index * PIECE_BYTES + stream.offset);
        if (unread !== undefined) {
          pieceBuffers.give(rest.frames);
          log(`cannot read piece ${index} of ${entry.path}: ${unread}; rejecting`);
          conn.send({ t: "p_reject", index });
          endStream(conn);
          pump();
          return;
        }
        frame = rest.frames;
        pool = pieceBuffers;
        stream.offset = length;
      }
      if (conn.sendFrame(frame)) {
        pool.give(frame);
        continue;
      }
      // The frame is free once the kernel has all of it; until then this stream waits.
      stream.draining = true;
      void conn.drained().then(() => {
        pool.give(frame);
        stream.draining = false;
        flow(conn, entry, stream);
      });
      return;
    }
  };
  const endStream = (conn: Downloader) => {
    const stream = streams.get(conn);
    if (!stream) return;
    streams.delete(conn);
    stream.unlisten?.();
  };

  const handler = {
    message(conn: Downloader, value: unknown): void {
      const msg = parsePeerMessage(value);
      const p = conn.state;
      if (msg.t === "p_hello") {
        if (p.phase !== "challenged") throw new ProtocolError("Second p_hello on one connection");
        const entry = catalog.get(msg.group, msg.name);
        if (!entry) {
          conn.send({ t: "p_refuse", reason: `"${msg.name}" is not shared here in "${msg.group}"` });
          conn.end();
          options.notServed?.(msg.group, msg.name);
          return;
        }
        if (checking >= MAX_CONCURRENT_CHECKS) {
          conn.send({ t: "p_refuse", reason: "busy checking other peers: try again shortly" });
          conn.end();
          return;
        }
        p.phase = "checking";
        checking++;
        verify(msg.group, msg.peer, { nonce: p.nonce, mac: msg.proof, who: p.who })
          .finally(() => checking--)
          .then((outcome) => {
            if (conn.isClosed) return;
            if (!outcome.ok) {
              log(`refused peer ${conn.remote} for ${msg.group}/${msg.name}: ${outcome.reason}`);
              conn.send({ t: "p_refuse", reason: outcome.reason });
              conn.end();
              return;
            }
            p.phase = "serving";
            p.entry = entry;
            queue.open(conn, `${entry.group}\u0000${entry.name}`);
            // A downloader of this file: we may fetch from it too. The tracker has just confirmed
            // that the key it presented is its session's, the key its own server will present.
            catalog.introduce(msg.group, msg.name, msg.peer, p.who.id);
            const seed = superSeedOf(entry);
            conn.send(
              seed?.active
                ? { t: "p_bitfield", bits: seed.open(conn).toBytes(), superSeed: true }
                : { t: "p_bitfield", bits: entry.have.toBytes() },
            );
            for (const index of entry.soon ?? []) conn.send({ t: "p_soon", index });
            // A piece offered with p_soon is as good as held to the downloader (asked for, it is
            // sent): its p_have would tell nothing, and in a flash crowd these two per piece and
            // peer were most of a client's small writes, each a TLS record and a wakeup there.
            p.unwatch = catalog.watch(msg.group, msg.name, (index, soon, offered) => {
              if (soon) conn.send({ t: "p_soon", index });
              else if (!offered) conn.send({ t: "p_have", index });
              // A piece asked for while it arrived, and lost on the way, is here now or coming again.
              const stream = streams.get(conn);
              if (stream?.index === index) flow(conn, entry, stream);
            });
          })
          .catch((err) => {
            conn.send({ t: "p_refuse", reason: `cannot check your session: ${messageOf(err)}` });
            conn.end();
          });
        return;
      }
      const entry = p.entry;
      if (p.phase !== "serving" || entry === undefined)
        throw new ProtocolError(`Peer sent ${msg.t} before being admitted`);
      if (msg.t === "p_request") {
        if (msg.index >= entry.have.size)
          throw new ProtocolError(`Piece ${msg.index} is beyond the file's ${entry.have.size} pieces`);
        const admission = queue.request(conn, msg.index, msg.missing, msg.arriving);
        if (admission === "over_limit")
          throw new ProtocolError(`More than ${MAX_QUEUED_REQUESTS} piece requests queued or answered busy`);
        if (admission === "busy") conn.send({ t: "p_busy", index: msg.index });
        pump();
      } else if (msg.t === "p_arriving") {
        queue.arriving(conn, msg.count);
      } else if (msg.t === "p_decline") {
        reveal(superSeeds.get(entry)?.declined(conn) ?? []);
      } else if (msg.t === "p_got") {
        const sentAt = slots.delivered(conn, msg.index);
        if (sentAt !== undefined) {
          pieceMs.set(conn, Date.now() - sentAt);
          pump();
        }
      } else if (msg.t === "p_cancel") {
        queue.cancel(conn, msg.index);
        pump(); // room for a connection told busy
      } else {
        throw new ProtocolError(`Unexpected ${msg.t} from a downloader`);
      }
    },
    close(conn: Downloader): void {
      if (conn.state.admitted) perAddress.release(conn.remoteAddress);
      conn.state.unwatch?.();
      queue.close(conn);
      endStream(conn);
      slots.close(conn);
      const entry = conn.state.entry;
      if (entry) reveal(superSeeds.get(entry)?.close(conn) ?? []);
      pump(); // room for a connection told busy
    },
  };
  /** The super-seeding of a file shared from here (made on its first downloader), else undefined. */
  const superSeedOf = (entry: Served) => {
    if (!entry.origin || !entry.have.isComplete()) return undefined;
    let seed = superSeeds.get(entry);
    if (!seed) {
      seed = new SuperSeed<Downloader>(entry.have.size);
      superSeeds.set(entry, seed);
      seeding.set(seed, entry);
    }
    return seed;
  };
  const reveal = (reveals: readonly Reveal<Downloader>[]) => {
    for (const r of reveals) {
      if (r.all) r.conn.send({ t: "p_have_all" });
      else for (const index of r.indexes) r.conn.send({ t: "p_have", index });
    }
  };

  const listener = Bun.listen<Downloader>({
    hostname: options.host,
    port: options.port,
    tls: listenTls(options.identity),
    socket: secureHandlers(
      (socket: Socket<Downloader>, who: PeerKey) => {
        const nonce = crypto.getRandomValues(new Uint8Array(32));
        const state: PeerConn = {
          admitted: false,
          who,
          nonce,
          phase: "challenged",
          entry: undefined,
          unwatch: undefined,
        };
        // Downloaders send only small messages; pieces flow the other way.
        const conn = new Connection(socket, handler, state, {
          log,
          maxFrameBytes: MAX_UNAUTHENTICATED_FRAME_BYTES,
        });
        if (!perAddress.admit(conn.remoteAddress)) {
          conn.send({
            t: "p_refuse",
            reason: `too many connections from ${conn.remoteAddress} (${MAX_CONNECTIONS_PER_ADDRESS}): close some and retry`,
          });
          conn.end();
          return;
        }
        state.admitted = true;
        conn.send({ t: "p_challenge", nonce });
      },
      { pending: handshakes },
    ),
  });
  const stop = listener.stop.bind(listener);
  listener.stop = (closeActive?: boolean) => {
    clearInterval(expiry);
    fds.closeAll();
    stop(closeActive);
  };
  return listener;
}

/**
 * Reads bytes of a file at `position` into the `slices` given, in order, with one system call;
 * undefined when all came, else why not.
 */
function readInto(fds: FileCache, entry: Served, slices: Uint8Array[], position: number): string | undefined {
  try {
    const wanted = slices.reduce((sum, b) => sum + b.byteLength, 0);
    return readvSync(fds.open(entry), slices, position) === wanted
      ? undefined
      : "file shorter than when it was shared";
  } catch (err) {
    return messageOf(err);
  }
}

/**
 * Open read descriptors, one per served file and reused across requests. Keyed by the catalog
 * entry, not the path: a finished download's rename keeps its descriptor valid, and a file no
 * longer served has its descriptor closed the next time another one is opened.
 */
class FileCache {
  #catalog: Catalog;
  #fds = new Map<Served, number>();

  constructor(catalog: Catalog) {
    this.#catalog = catalog;
  }

  open(entry: Served): number {
    let fd = this.#fds.get(entry);
    if (fd === undefined) {
      this.#closeUnserved();
      fd = openSync(entry.path, "r");
      this.#fds.set(entry, fd);
    }
    return fd;
  }

  closeAll(): void {
    for (const fd of this.#fds.values()) closeSync(fd);
    this.#fds.clear();
  }

  #closeUnserved(): void {
    for (const [entry, fd] of this.#fds) {
      if (this.#catalog.get(entry.group, entry.name) === entry) continue;
      closeSync(fd);
      this.#fds.delete(entry);
    }
  }
}
