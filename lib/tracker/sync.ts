// Shell: tracker <-> tracker replication. Pushes new operations at once, and every
// SYNC_INTERVAL_MS sends its status so the other side answers with whatever this one lacks
// (anti-entropy: a tracker that was down or cut off catches up). Accepts sync connections
// only from trackers listed in tracker_info.txt, each known by the node id its line gives
// (nodeIdOf: its pinned id, else its address), so a tracker removed from the file is refused and
// no longer waited for. With a secret, both sides prove they know it (HMAC over the other side's
// fresh nonce) before either trusts the other.

import { timingSafeEqual } from "node:crypto";
import type { Socket } from "bun";
import { nodeIdOf, type TrackerAddress, type TrackerInfo } from "../config.ts";
import { messageOf, ProtocolError } from "../errors.ts";
import type { TlsIdentity } from "../identity/key_file.ts";
import type { TrackerTrust } from "../identity/tracker_trust.ts";
import type { BaseImage, Op, Replica } from "../replica/replica.ts";
import { compareStamps, type Stamp } from "../replica/stamp.ts";
import { type BaseHeader, BaseReader, encodeBase } from "../wire/base_stream.ts";
import { Connection } from "../wire/connection.ts";
import { MAX_FRAME_BYTES, MAX_OPS_PER_FRAME } from "../wire/limits.ts";
import { itemParts, PART_BYTES } from "../wire/parts.ts";
import {
  MAX_BASE_BYTES,
  type PartialBase,
  parseSyncMessage,
  SYNC_MESSAGE_BOUNDS,
  type SyncMessage,
} from "../wire/sync_protocol.ts";
import { connectTls, secureHandlers } from "../wire/tls.ts";
import type { Liveness } from "./liveness.ts";
import type { Store } from "./store.ts";

export const SYNC_INTERVAL_MS = 500;
/** Ops are folded into the base in slices, so that no fold holds the event loop long. */
const COMPACT_SLICE_MS = 100;
const COMPACT_SLICE_OPS = 2_000;
/**
 * The base on disk holds the whole state (every user, session, file and recent request id), so
 * writing it takes time in proportion to the state: 0.4 s at 200,000 request ids. It is
 * rewritten once the ops folded since the last save outnumber the state's entries (and at least
 * SAVE_BASE_MIN_OPS): each op then pays a constant share of a save, and a restart replays no
 * more ops than one save writes entries.
 */
const SAVE_BASE_MIN_OPS = 10_000;
const REDIAL_MS = 1_000;
/** A tracker started with nothing stored waits this long for another one before it starts alone. */
const CATCH_UP_WAIT_MS = 3_000;
/** Bytes of catch-up ops sent per status answer: the peer asks again half a second later. */
const CATCH_UP_BYTES = 16 * 1024 * 1024;
/** A base transfer that got no part for this long gives way to another tracker's. */
const BASE_STALL_MS = 10_000;
/**
 * A base is written to the store a slice of this many ms at a time, the event loop served in
 * between: at 1 GB a save takes seconds, and clients and the other trackers must not wait
 * for it (compaction waits instead: the base must not change under the save).
 */
const SAVE_SLICE_MS = 20;

/** A base being written to the store slice by slice, and the sends that wait for it. */
interface Saving {
  header: BaseHeader;
  gen: number;
  chunks: Generator<Uint8Array, unknown>;
  startedMs: number;
  /** A next slice is due (one chain of slices, however many callers started one). */
  scheduled: boolean;
  done: Promise<void>;
  finished: () => void;
}

/**
 * A compacted base coming in from another tracker, chunk by chunk: each is built into the
 * state at once and kept in the store under its own generation, so memory follows the state
 * and not its encoding, and the base is on disk once adopted.
 */
interface IncomingBase {
  from: number;
  stamp: Stamp;
  totalBytes: number;
  reader: BaseReader;
  /** The store's generation for its chunks. */
  gen: number;
  /** Milliseconds spent decoding and building its chunks, and storing them: where a catch-up goes. */
  readMs: number;
  storeMs: number;
  startedMs: number;
  lastPartMs: number;
  /** The connection the last part came on: a part on another one resumes a cut transfer. */
  conn: AnyConnection;
}

/** What replication needs of the tracker. */
export interface SyncOptions {
  me: TrackerAddress;
  trackers: TrackerInfo;
  secret?: string | undefined;
  /** Our key, and the keys the other trackers must present. */
  identity: TlsIdentity;
  trust: TrackerTrust;
  replica: Replica;
  store: Store;
  liveness: Liveness;
  nowMs: () => number;
  log: (line: string) => void;
  /**
   * Trackers whose lines left the file and are listed again: we stopped waiting for them and
   * compacted without them, so one that comes back with ops of its own we lack (made while it
   * was out of the file, or never passed on) is refused; one that lacks nothing is a member again.
   */
  returning?: Set<number> | undefined;
  /** A returning tracker was taken back (the shell stops counting it as departed). */
  welcomedBack?: ((node: number) => void) | undefined;
}

/** An inbound sync connection's state: which tracker it claims to be, and whether it proved it. */
export interface SyncPeer {
  /** Its node id. */
  node: number;
  /** The challenge it must answer, when there is a secret. */
  nonce: Uint8Array | undefined;
  authed: boolean;
  /** Refused and being closed quietly (a removed tracker redials every second): the rest is ignored. */
  refused?: true;
}

/** Any connection sync writes to, whatever its owner keeps in its state. */
type AnyConnection = Connection<unknown>;

interface Link {
  /** Its node id, and its line in tracker_info.txt. */
  node: number;
  tracker: TrackerAddress;
  conn: Connection | undefined;
  authed: boolean;
  lastHeardMs: number;
  redial: ReturnType<typeof setTimeout> | undefined;
  /** Why its key was refused last time, if it was. */
  refusal: string | undefined;
}

/** Replication with every other tracker in the file. */
export class Sync {
  #o: SyncOptions;
  #links = new Map<number, Link>();
  #inbound = new Map<AnyConnection, SyncPeer>();
  /** The last refusal per node id that dialled us (a wrong key, or no line in the file). */
  #inboundRefusals = new Map<number, string>();
  /** Our node id. */
  #me: number;
  #timers: ReturnType<typeof setInterval>[] = [];
  #stopped = false;
  /** Ops folded into the base in memory since the base was last written to the store. */
  #foldedSinceSave = 0;
  #incoming: IncomingBase | undefined;
  #heardStatus = false;
  /** Trackers a base is being sent to now: one transfer each. */
  #sendingBaseTo = new Set<number>();
  /** The last base sent whole to each tracker, on which connection: it is not sent again while that one is open. */
  #sentBase = new Map<number, { stamp: Stamp; conn: AnyConnection; atMs: number }>();
  /** The stamp of the base in the store: a save never replaces it with an older one. */
  #savedBaseStamp: Stamp;
  #saving: Saving | undefined;

  constructor(options: SyncOptions) {
    this.#o = options;
    this.#savedBaseStamp = options.replica.baseStamp; // the replica was restored from the store
    this.#me = nodeIdOf(options.me);
    for (const t of options.trackers)
      if (t.no !== options.me.no)
        this.#links.set(nodeIdOf(t), {
          node: nodeIdOf(t),
          tracker: t,
          conn: undefined,
          authed: false,
          lastHeardMs: 0,
          redial: undefined,
          refusal: undefined,
        });
  }

  start(): void {
    for (const link of this.#links.values()) this.#dial(link);
    const { replica } = this.#o;
    if (replica.catchingUp) {
      this.#o.log("sync: nothing stored here: catching up from the other trackers before taking changes");
      const wait = setTimeout(() => {
        if (!replica.catchingUp || this.#heardStatus) return;
        replica.stopCatchingUp();
        this.#o.store.catchingUp = false;
        this.#o.log(
          `sync: no other tracker answered within ${CATCH_UP_WAIT_MS / 1000} s: starting with an empty state`,
        );
      }, CATCH_UP_WAIT_MS);
      this.#timers.push(wait);
    }
    this.#timers.push(setInterval(() => this.#tick(), SYNC_INTERVAL_MS));
    this.#timers.push(setInterval(() => this.#compact(), COMPACT_SLICE_MS));
  }

  stop(): void {
    this.#stopped = true;
    for (const t of this.#timers) clearInterval(t);
    // A clean stop leaves a compact log behind: the save under way, then the base as it is now.
    this.#saveSlice(Infinity);
    this.#startSave();
    this.#saveSlice(Infinity);
    for (const link of this.#links.values()) clearTimeout(link.redial);
    for (const link of this.#links.values()) link.conn?.end();
    for (const conn of this.#inbound.keys()) conn.end();
  }

  /** Pushes freshly committed operations to every connected tracker, over one connection each. */
  broadcast(ops: Op[]): void {
    const reached = new Set<number>();
    for (const link of this.#links.values()) {
      if (link.authed && link.conn) {
        sendOps(link.conn, ops);
        reached.add(link.node);
      }
    }
    // A tracker that just (re)started dials us before we redial it: use its connection meanwhile.
    for (const [conn, peer] of this.#inbound) {
      if (peer.authed && !reached.has(peer.node)) {
        sendOps(conn, ops);
        reached.add(peer.node);
      }
    }
  }

  /** Per other tracker in the file (by line number, and node id): connected, and ms since we last heard from it. */
  peers(): { no: number; node: number; connected: boolean; silentMs: number }[] {
    const now = this.#o.nowMs();
    return [...this.#links.values()].map((l) => ({
      no: l.tracker.no,
      node: l.node,
      connected: l.authed,
      silentMs: l.lastHeardMs ? now - l.lastHeardMs : -1,
    }));
  }

  /** The first message of an inbound connection was a sync message: authenticate it; its state for later messages. */
  acceptInbound(conn: AnyConnection, key: string, value: unknown): SyncPeer {
    const msg = parseSyncMessage(value);
    if (msg.t !== "sync_hello") throw new ProtocolError(`Expected sync_hello first: got ${msg.t}`);
    if (msg.node === this.#me) throw new ProtocolError("Sync hello from a tracker claiming to be this one");
    const listed = this.#links.get(msg.node)?.tracker;
    if (!listed) {
      // A tracker removed from the file (still running on the old one), or files that differ:
      // said once, and its connections closed without a line each (it redials every second).
      const refusal = `node ${msg.node} has no line in tracker_info.txt (a tracker removed from the file, or its file differs from ours): not syncing with it`;
      if (this.#inboundRefusals.get(msg.node) !== refusal)
        this.#o.log(`sync: refusing ${conn.remote}: ${refusal}`);
      this.#inboundRefusals.set(msg.node, refusal);
      conn.end();
      return { node: msg.node, nonce: undefined, authed: false, refused: true };
    }
    if (!sameHost(listed.host, conn.remoteAddress)) {
      throw new ProtocolError(
        `Sync hello as tracker ${listed.no} from ${conn.remoteAddress}, not its listed address ${listed.host}`,
      );
    }
    // Only the key pinned or remembered for that line: the address alone proves nothing.
    const refusal = this.#o.trust.check(listed, key);
    if (refusal !== undefined) {
      // Said once per change, not at each of its redials.
      if (this.#inboundRefusals.get(msg.node) !== refusal)
        this.#o.log(`sync: refusing ${conn.remote}: ${refusal}`);
      this.#inboundRefusals.set(msg.node, refusal);
      throw new ProtocolError(`Sync hello as tracker ${listed.no} with the wrong key`);
    }
    const peer: SyncPeer = { node: msg.node, nonce: undefined, authed: false };
    this.#inbound.set(conn, peer);
    if (this.#o.secret === undefined) {
      this.#welcome(conn, peer);
      return peer;
    }
    peer.nonce = crypto.getRandomValues(new Uint8Array(32));
    conn.send({
      t: "sync_challenge",
      nonce: peer.nonce,
      mac: proof(this.#o.secret, msg.nonce, this.#me),
    });
    return peer;
  }

  /** Any later message on an inbound sync connection. */
  inboundMessage(conn: AnyConnection, peer: SyncPeer, value: unknown): void {
    if (peer.refused) return;
    const msg = parseSyncMessage(value);
    if (!peer.authed) {
      if (msg.t !== "sync_prove" || peer.nonce === undefined)
        throw new ProtocolError(`Expected sync_prove: got ${msg.t}`);
      const expected = proof(this.#o.secret ?? "", peer.nonce, peer.node);
      if (!timingSafeEqual(expected, msg.mac))
        throw new ProtocolError(`${this.#label(peer.node, "Tracker")} failed the secret check`);
      this.#welcome(conn, peer);
      return;
    }
    this.#handle(conn, msg, peer.node);
  }

  inboundClosed(conn: AnyConnection): void {
    this.#inbound.delete(conn);
  }

  #welcome(conn: AnyConnection, peer: SyncPeer): void {
    peer.authed = true;
    conn.maxFrameBytes = MAX_FRAME_BYTES; // a proven tracker: op batches and bases are large
    conn.messageBounds = SYNC_MESSAGE_BOUNDS; // and a share's piece hashes come in parts
    this.#o.log(`sync: ${this.#label(peer.node)} connected to us`);
    // It is back: redial it now rather than at the next retry (unless it may be refused again).
    const link = this.#links.get(peer.node);
    if (link?.redial && !this.#o.returning?.has(peer.node)) {
      clearTimeout(link.redial);
      this.#dial(link);
    }
    conn.send({ t: "sync_welcome" });
    conn.send(this.#statusMessage());
  }

  #dial(link: Link): void {
    link.redial = undefined;
    if (this.#stopped) return;
    const peer = link.tracker;
    const nonce = crypto.getRandomValues(new Uint8Array(32));
    let acceptorProved = false;
    const handler = {
      message: (conn: Connection, value: unknown) => {
        const msg = parseSyncMessage(value);
        const secret = this.#o.secret;
        if (msg.t === "sync_challenge") {
          if (secret === undefined)
            throw new ProtocolError(
              `Tracker ${peer.no} requires a sync secret: set the same TRACKER_SECRET here`,
            );
          if (!timingSafeEqual(proof(secret, nonce, link.node), msg.mac))
            throw new ProtocolError(`Tracker ${peer.no} failed the secret check`);
          acceptorProved = true;
          conn.send({ t: "sync_prove", mac: proof(secret, msg.nonce, this.#me) });
        } else if (msg.t === "sync_welcome") {
          if (secret !== undefined && !acceptorProved)
            throw new ProtocolError(`Tracker ${peer.no} has no sync secret: refusing it`);
          link.authed = true;
          conn.messageBounds = SYNC_MESSAGE_BOUNDS;
          link.lastHeardMs = this.#o.nowMs();
          this.#o.log(`sync: connected to tracker ${peer.no}`);
          this.#sendStatus(conn);
        } else if (link.authed) {
          this.#handle(conn, msg, link.node);
        } else {
          throw new ProtocolError(`Unexpected ${msg.t} before sync_welcome`);
        }
      },
      close: () => {
        if (link.authed) this.#o.log(`sync: lost tracker ${peer.no}`);
        this.#o.replica.forgetStatus(link.node);
        link.authed = false;
        link.conn = undefined;
        if (!this.#stopped) link.redial = setTimeout(() => this.#dial(link), REDIAL_MS);
      },
    };
    let refused: string | undefined;
    Bun.connect<Connection>({
      hostname: peer.host,
      port: peer.port,
      tls: connectTls(this.#o.identity),
      socket: secureHandlers(
        (socket: Socket<Connection>) => {
          link.conn = new Connection(socket, handler, undefined, { log: this.#o.log });
          link.conn.send({ t: "sync_hello", node: this.#me, nonce });
        },
        {
          check: (key) => (refused = this.#o.trust.check(peer, key)),
          failed: () => {
            // A refused key is said once per change of mind, not at every redial.
            if (refused !== undefined && refused !== link.refusal)
              this.#o.log(`sync: ${refused}; not syncing with it`);
            link.refusal = refused;
            if (!this.#stopped) link.redial = setTimeout(() => this.#dial(link), REDIAL_MS);
          },
        },
      ),
    }).catch(() => {
      if (!this.#stopped) link.redial = setTimeout(() => this.#dial(link), REDIAL_MS);
    });
  }

  #handle(conn: AnyConnection, msg: SyncMessage, from: number): void {
    const { replica, store } = this.#o;
    const link = this.#links.get(from);
    if (link) link.lastHeardMs = this.#o.nowMs();
    if (this.#o.returning?.has(from) && !this.#takeBack(msg, from)) return;
    switch (msg.t) {
      case "sync_ops": {
        const fresh = replica.applyMany(msg.ops);
        store.append(fresh); // durable before our next status counts them
        // An act through a session shows its client was alive a moment ago, before the next gossip.
        const acting = fresh.flatMap((op) =>
          "session" in op.change && op.change.kind !== "logout" ? [op.change.session] : [],
        );
        this.#o.liveness.reported(acting, this.#o.nowMs());
        return;
      }
      case "sync_status": {
        if (msg.status.node !== from)
          throw new ProtocolError(`Status of node ${msg.status.node} on ${this.#label(from)}'s link`);
        const wasCatchingUp = replica.catchingUp;
        replica.receiveStatus(msg.status);
        this.#heardStatus = true;
        if (wasCatchingUp && !replica.catchingUp) {
          store.catchingUp = false;
          this.#o.log(
            `sync: caught up (every other tracker has reported, the last ${this.#label(from)}): taking changes`,
          );
        }
        // Still sending the last answer, or a pushed op in parts (on either connection): what is
        // on its way is not sent again.
        if (this.#sendingTo(from) || this.#sendingBaseTo.has(from)) return;
        if (replica.needsBase(msg.status.vv)) {
          // Sent whole on a connection still open: it is on its way (or being adopted), not lost.
          const sent = this.#sentBase.get(from);
          if (
            sent &&
            !sent.conn.isClosed &&
            compareStamps(sent.stamp, replica.baseStamp) === 0 &&
            this.#o.nowMs() - sent.atMs < BASE_STALL_MS
          )
            return;
          this.#sendBase(conn, from, msg.partial).catch((err) =>
            this.#o.log(`sync: sending the base to ${this.#label(from)} failed: ${(err as Error).message}`),
          );
          return;
        }
        sendOps(conn, replica.missingFor(msg.status.vv).ops, CATCH_UP_BYTES);
        return;
      }
      case "sync_base_part":
        this.#receiveBasePart(conn, from, msg);
        return;
      case "sync_live":
        this.#o.liveness.reported(msg.sessions, this.#o.nowMs());
        return;
      default:
        throw new ProtocolError(`Unexpected ${msg.t} on an established sync link`);
    }
  }

  /** Whether anything is still queued for tracker `node`, on the link we dialled or one it did. */
  #sendingTo(node: number): boolean {
    const link = this.#links.get(node);
    if (link?.conn && link.conn.queuedBytes > 0) return true;
    for (const [conn, peer] of this.#inbound) if (peer.node === node && conn.queuedBytes > 0) return true;
    return false;
  }

  /**
   * A tracker listed again after its line was removed: nothing it sends counts until its status
   * shows it has no op of its own that we lack (see SyncOptions.returning); false to ignore `msg`.
   */
  #takeBack(msg: SyncMessage, from: number): boolean {
    if (msg.t !== "sync_status") return false;
    const lacking = this.#o.replica.ownOpsLacking(msg.status);
    if (lacking > 0) {
      const refusal = `${this.#label(from)} was removed from tracker_info.txt and is back with ${lacking} operation(s) of its own that we never had (made while it was out of the file, or never passed on before it left): refusing them and it; start it with an empty data dir to take part`;
      if (this.#inboundRefusals.get(from) !== refusal) this.#o.log(`sync: ${refusal}`);
      this.#inboundRefusals.set(from, refusal);
      throw new ProtocolError(`${this.#label(from, "Tracker")} came back with operations we lack`);
    }
    this.#o.returning?.delete(from);
    this.#o.welcomedBack?.(from);
    this.#o.log(
      `sync: ${this.#label(from)} is back in tracker_info.txt and lacks nothing of its own: taking part again`,
    );
    return true;
  }

  #tick(): void {
    for (const link of this.#links.values()) if (link.authed && link.conn) this.#sendStatus(link.conn);
    // Also on the links the others opened: each side hears the other twice a second, so a quiet
    // link is never taken for a dead one (idle timeout), and a silent one is.
    for (const [conn, peer] of this.#inbound) if (peer.authed) conn.send(this.#statusMessage());
  }

  #sendStatus(conn: AnyConnection): void {
    conn.send(this.#statusMessage());
    conn.send({ t: "sync_live", sessions: this.#o.liveness.heardHere(this.#o.nowMs()) });
  }

  /** Our status, and how much of a base we hold from a transfer under way (so it resumes there). */
  #statusMessage(): SyncMessage {
    const status = this.#o.replica.status();
    const incoming = this.#incoming;
    if (!incoming) return { t: "sync_status", status };
    return {
      t: "sync_status",
      status,
      partial: { stamp: incoming.stamp, offset: incoming.reader.bytes },
    };
  }

  /**
   * Sends our base to tracker `node`, which lacks ops folded into it: the stored base, chunk by
   * chunk as stored, paced by the connection, from where a cut transfer of the same base
   * stopped. The ops above it follow once the other side has adopted it and says so in its
   * status. A base folded further since it was stored is stored first (the chunks a transfer
   * resumes from must not change), and no other save replaces it while a transfer reads it.
   */
  async #sendBase(conn: AnyConnection, node: number, partial?: PartialBase): Promise<void> {
    this.#sendingBaseTo.add(node);
    try {
      const { store } = this.#o;
      const saving = this.#startSave();
      if (saving) {
        this.#saveSlice(SAVE_SLICE_MS);
        await saving.done;
        const seconds = (performance.now() - saving.startedMs) / 1000;
        this.#o.log(`sync: stored the base in ${seconds.toFixed(2)} s before sending it`);
      }
      const stored = store.storedBase();
      if (!stored) return;
      const { stamp, bytes: total } = stored;
      const resumeAt =
        partial &&
        compareStamps(partial.stamp, stamp) === 0 &&
        partial.offset < total &&
        store.hasChunkAt(partial.offset)
          ? partial.offset
          : 0;
      this.#o.log(
        resumeAt > 0
          ? `sync: resuming compacted base for ${this.#label(node)} at ${megabytes(resumeAt)} of ${megabytes(total)}`
          : `sync: sending compacted base (${megabytes(total)}) to ${this.#label(node)}`,
      );
      const started = performance.now();
      let waitedMs = 0;
      for (const part of store.baseChunks(resumeAt)) {
        if (conn.isClosed || this.#stopped) return;
        const message = {
          t: "sync_base_part",
          stamp,
          totalBytes: total,
          offset: part.offset,
          bytes: part.bytes,
        };
        if (!conn.send(message)) {
          const t0 = performance.now();
          await conn.drained();
          waitedMs += performance.now() - t0;
        }
      }
      if (conn.isClosed) return;
      this.#sentBase.set(node, { stamp, conn, atMs: this.#o.nowMs() });
      const seconds = (performance.now() - started) / 1000;
      this.#o.log(
        `sync: sent compacted base to tracker ${node} (${megabytes(total - resumeAt)} in ${seconds.toFixed(2)} s, ${(waitedMs / 1000).toFixed(2)} s of it waiting for the link to drain)`,
      );
    } finally {
      this.#sendingBaseTo.delete(node);
    }
  }

  /** One part (chunk) of another tracker's base; the whole one, once here, replaces ours if newer. */
  #receiveBasePart(conn: AnyConnection, from: number, msg: SyncMessage & { t: "sync_base_part" }): void {
    const { replica, store } = this.#o;
    const now = this.#o.nowMs();
    let incoming = this.#incoming;
    const same =
      incoming && compareStamps(incoming.stamp, msg.stamp) === 0 && incoming.totalBytes === msg.totalBytes;
    if (!same) {
      if (msg.offset !== 0) return; // the rest of a stream we did not start: wait for a fresh one
      if (compareStamps(msg.stamp, replica.baseStamp) <= 0) return; // not newer than ours
      const busy = incoming && now - incoming.lastPartMs < BASE_STALL_MS;
      if (incoming && busy && compareStamps(msg.stamp, incoming.stamp) <= 0) return;
      if (incoming) this.#dropIncoming();
      if (msg.totalBytes > MAX_BASE_BYTES)
        throw new ProtocolError(`Base of ${msg.totalBytes} bytes exceeds the limit of ${MAX_BASE_BYTES}`);
      incoming = {
        from,
        stamp: msg.stamp,
        totalBytes: msg.totalBytes,
        reader: new BaseReader(),
        gen: store.beginIncoming(),
        readMs: 0,
        storeMs: 0,
        startedMs: now,
        lastPartMs: now,
        conn,
      };
      this.#incoming = incoming;
      this.#o.log(`sync: receiving compacted base (${megabytes(msg.totalBytes)}) from ${this.#label(from)}`);
    }
    if (!incoming || msg.offset !== incoming.reader.bytes) return; // a part we hold, or past a gap
    if (msg.offset + msg.bytes.byteLength > incoming.totalBytes)
      throw new ProtocolError(
        `Part at ${msg.offset} of ${msg.bytes.byteLength} bytes runs past ${incoming.totalBytes}`,
      );
    let image: BaseImage | undefined;
    try {
      const t0 = performance.now();
      incoming.reader.add(msg.bytes);
      const t1 = performance.now();
      store.putIncoming(incoming.gen, msg.bytes);
      const t2 = performance.now();
      if (incoming.reader.bytes === incoming.totalBytes) image = incoming.reader.finish();
      incoming.readMs += t1 - t0 + (performance.now() - t2);
      incoming.storeMs += t2 - t1;
    } catch (err) {
      this.#dropIncoming(); // a base that does not read back is dropped whole
      throw err;
    }
    if (incoming.conn !== conn && msg.offset > 0) {
      this.#o.log(
        `sync: resuming compacted base from ${this.#label(from)} at ${megabytes(msg.offset)} of ${megabytes(msg.totalBytes)}`,
      );
    }
    incoming.conn = conn;
    incoming.from = from;
    incoming.lastPartMs = now;
    if (!image) return;
    this.#incoming = undefined;
    if (compareStamps(image.stamp, incoming.stamp) !== 0) {
      store.dropIncoming(incoming.gen);
      throw new ProtocolError(`Base parts announced stamp ${JSON.stringify(incoming.stamp)}, not the base's`);
    }
    if (!replica.adoptBase(image)) {
      store.dropIncoming(incoming.gen);
      return;
    }
    const seconds = (this.#o.nowMs() - incoming.startedMs) / 1000;
    const spent = `${(incoming.readMs / 1000).toFixed(2)} s reading, ${(incoming.storeMs / 1000).toFixed(2)} s storing`;
    this.#o.log(
      `sync: adopted compacted base from ${this.#label(from)} (${megabytes(incoming.totalBytes)} in ${seconds.toFixed(2)} s; ${spent})`,
    );
    conn.send(this.#statusMessage()); // the ops above it come at once
    // Its chunks are in its file already: making it the stored base is one small transaction.
    store.adoptIncoming(incoming.gen, image);
    this.#savedBaseStamp = image.stamp;
    this.#foldedSinceSave = 0;
    collectSoon();
  }

  /** Forgets the base coming in, and its chunks in the store. */
  #dropIncoming(): void {
    const incoming = this.#incoming;
    if (!incoming) return;
    this.#incoming = undefined;
    this.#o.store.dropIncoming(incoming.gen);
  }

  /** `tracker 2`: a node id as the operator knows it, by its line in our tracker_info.txt. */
  #label(node: number, word = "tracker"): string {
    const line = this.#links.get(node)?.tracker.no;
    return line === undefined ? `node ${node}` : `${word} ${line}`;
  }

  #compact(): void {
    if (this.#saving) return; // the base must not change under the save under way
    const { replica } = this.#o;
    this.#foldedSinceSave += replica.compact(COMPACT_SLICE_OPS).length;
    // entryCount() walks every group: only asked once the cheap bound is passed (10 times a second).
    const folded = this.#foldedSinceSave;
    // Not while a transfer reads the stored base: it resumes from chunks that must not change.
    if (this.#sendingBaseTo.size > 0) return;
    if (folded >= SAVE_BASE_MIN_OPS && folded >= replica.state.entryCount()) {
      this.#startSave();
      this.#saveSlice(SAVE_SLICE_MS);
    }
  }

  /** Starts storing the base as folded now, if it moved since it was stored: the save under way, if any. */
  #startSave(): Saving | undefined {
    if (this.#saving) return this.#saving;
    const { replica, store } = this.#o;
    if (compareStamps(this.#savedBaseStamp, replica.baseStamp) === 0) return undefined;
    const image = replica.baseImage(); // its state is the replica's own: no compaction until the save ends
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#saving = {
      header: { stamp: image.stamp, vv: image.vv },
      gen: store.beginIncoming(),
      chunks: encodeBase(image, image.state),
      startedMs: performance.now(),
      scheduled: false,
      done: promise,
      finished: resolve,
    };
    return this.#saving;
  }

  /**
   * Encodes and writes the save's next chunks for up to `budgetMs`, then lets the event loop
   * run before the next slice; once all are written, makes it the stored base (unless a newer
   * one was stored meanwhile, one taken from another tracker).
   */
  #saveSlice(budgetMs: number): void {
    const saving = this.#saving;
    if (!saving) return;
    const { replica, store } = this.#o;
    const until = performance.now() + budgetMs;
    try {
      for (let next = saving.chunks.next(); !next.done; next = saving.chunks.next()) {
        store.putIncoming(saving.gen, next.value);
        if (performance.now() >= until) {
          if (!saving.scheduled) {
            saving.scheduled = true;
            setTimeout(() => {
              saving.scheduled = false;
              if (!this.#stopped && this.#saving === saving) this.#saveSlice(SAVE_SLICE_MS);
            }, 0);
          }
          return;
        }
      }
      if (compareStamps(saving.header.stamp, this.#savedBaseStamp) > 0) {
        store.adoptIncoming(saving.gen, saving.header);
        this.#savedBaseStamp = saving.header.stamp;
        if (compareStamps(saving.header.stamp, replica.baseStamp) === 0) this.#foldedSinceSave = 0;
      } else {
        store.dropIncoming(saving.gen);
      }
    } catch (err) {
      store.dropIncoming(saving.gen);
      this.#o.log(`sync: storing the base failed: ${messageOf(err)}`); // the next save tries again
    }
    this.#saving = undefined;
    saving.finished();
  }
}

/**
 * Sends ops in batches far below the frame limit (a share with a large piece-hash list alone,
 * which the connection sends in parts); stops after about `budgetBytes`.
 */
function sendOps(conn: AnyConnection, ops: readonly Op[], budgetBytes = Infinity): void {
  let sent = 0;
  const batches = itemParts(ops, {
    maxItems: MAX_OPS_PER_FRAME,
    maxBytes: PART_BYTES,
    sizeOf: opBytes,
  });
  for (const batch of batches) {
    if (sent >= budgetBytes) return;
    conn.send({ t: "sync_ops", ops: batch });
    for (const op of batch) sent += opBytes(op);
  }
}

/** An op's encoded size, estimated: its piece hashes and a generous allowance for the rest. */
function opBytes(op: Op): number {
  return 256 + (op.change.kind === "share" ? op.change.file.pieces.byteLength : 0);
}

/**
 * Taking in a base leaves garbage as big as the state (the state it replaced, its chunks): collect it
 * at once, in one pause, rather than keep it resident until the collector gets to it.
 */
function collectSoon(): void {
  setTimeout(() => Bun.gc(true), 0);
}

/** `12.1 MB`: transfer sizes in log lines. */
function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

/** HMAC-SHA256(secret, nonce | node id): proves a tracker knows the cluster secret. */
function proof(secret: string, nonce: Uint8Array, node: number): Uint8Array {
  const hmac = new Bun.CryptoHasher("sha256", secret);
  hmac.update(nonce);
  hmac.update(`|${node}`);
  return hmac.digest();
}

function sameHost(listed: string, remote: string): boolean {
  const normal = (h: string) => (h === "localhost" || h === "::1" ? "127.0.0.1" : h.replace(/^::ffff:/, ""));
  return normal(listed) === normal(remote);
}
