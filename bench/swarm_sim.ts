// bench/swarm_sim.ts: a deterministic swarm: the real DownloadCore and ServeQueue on N simulated
// peers and a source, with per-peer upload and download rates and latencies, driven by one
// event loop (no sockets, no clock, no Math.random), reproducible from a seed.
//
// Link model: a fluid one. Each connection carries one piece at a time; every uplink and
// downlink is shared max-min fairly among the transfers crossing it (as TCP roughly does),
// recomputed at most every 5 simulated ms ("min" sharing instead gives each transfer
// min(up_A / uploads of A, down_B / downloads into B), exact at every change but wasteful). A message (request, cancel, have, bitfield, dial) takes the
// sum of both ends' one-way latencies. The tracker answers a peer list in one round trip to
// the source's latency. Up to `sendSlots` pieces leave a node at once, as in lib/peer/server.ts.
//
// Cut-through, as the product does (lib/peer/arriving.ts): a peer announces a piece as soon as
// its first bytes arrive and forwards it as it comes in, holding back its last part until its
// own copy is checked. A forwarded piece never runs ahead of its sender's copy, and never
// completes before it: a caught-up transfer is held to its upstream's rate. A forwarder whose
// copy fails or is cut off restarts its forwarded transfers once it holds the piece. A holder
// sends a piece whole (not forwardable before it arrives) on a connection whose last piece
// reached its downloader within WHOLE_PIECE_MS. `cutThrough: false` is the what-if of storing,
// checking, then offering every piece, as the product did before 2026-12-02.
//
// Downloaders tell their seeders how many pieces are arriving at them (p_arriving), as
// lib/download/engine.ts does: counted from a piece's first part (not for pieces sent whole),
// told on every change to the seeders holding their requests not yet begun, and carried by
// each request; the seeders' ServeQueue serves the least busy first.
import { type CoreOptions, DownloadCore, type Effect } from "../lib/download/core.ts";
import { DEFAULT_SEND_SLOTS } from "../lib/peer/send_slots.ts";
import { DEFAULT_QUEUED_TOTAL, ServeQueue } from "../lib/peer/serve_queue.ts";
import { SuperSeed } from "../lib/peer/super_seed.ts";
import { Bitfield } from "../lib/pieces/bitfield.ts";
import { pieceCount, pieceLength } from "../lib/pieces/constants.ts";
import { PIECE_PART_BYTES, WHOLE_PIECE_MS } from "../lib/wire/peer_protocol.ts";
import { type StripeTrees, stripeOf, stripeTrees } from "./stripe_trees.ts";

/** One host of the swarm: rates in bytes per second, one-way latency in ms. */
export interface SimHost {
  upBps: number;
  downBps: number;
  latencyMs: number;
  /** Pieces held at the start (the source: all of them). */
  have?: "all" | readonly number[];
  /** Sends garbage for every piece it is asked for. */
  liar?: boolean;
}

export interface SimOptions {
  sizeBytes: number;
  /** hosts[0] is the source when it has everything; the others download (unless they hold it all). */
  hosts: SimHost[];
  seed: number;
  core?: Partial<CoreOptions>;
  sendSlots?: number;
  /** The same for a host holding the whole file (default: sendSlots). */
  seedSendSlots?: number;
  /** Downloaders start at a uniform moment in [0, startSpreadMs). */
  startSpreadMs?: number;
  /**
   * How links are shared: "max-min" (default: every uplink and downlink shared max-min fairly
   * over all transfers, recomputed at most every RECOMPUTE_MS, as TCP roughly does) or "min"
   * (each transfer gets min(up / uploads, down / downloads), exact at every change but wasteful).
   */
  sharing?: "max-min" | "min";
  /** Sample the share of all uplink capacity in use every this many ms (into `uplinkUse`). */
  sampleMs?: number;
  /** Requests a node queues over all its connections before it answers "busy" (default: the product's). */
  maxQueuedTotal?: number;
  /** Pieces the super-seeding source offers each connection at a time (default: the product's). */
  superSeedOffers?: number;
  /** The source super-seeds (lib/peer/super_seed.ts), as the product does; default true. */
  superSeed?: boolean;
  /** Simulated time after which the run stops, finished or not. */
  limitMs?: number;
  /** Pieces are forwarded while they arrive (see the head of this file); default true. */
  cutThrough?: boolean;
  /**
   * What-if: instead of the tracker's list, each downloader connects only to its parents in
   * balanced stripe trees of this many stripes (bench/stripe_trees.ts) and asks each parent
   * only for its stripe's pieces. Needs hosts[0] to be the only source, and at least as many
   * downloaders as stripes. The source then shows everything (each piece is asked of it by
   * one root only: the trees do what super-seeding is for).
   */
  stripeTrees?: number;
}

export interface SimResult {
  /** Finish time (ms from the first start) of each downloader, in host order; undefined if it never did. */
  finishMs: (number | undefined)[];
  /** When each downloader started (ms), in the same order: all 0 unless `startSpreadMs`. */
  startMs: number[];
  /** Downloaders that gave up. */
  gaveUp: number;
  /** Pieces written that were not the piece (must be 0). */
  badWritten: number;
  /** Bad pieces received (and turned away). */
  badReceived: number;
  /** Pieces the source uploaded, and all hosts together. */
  sourceUploads: number;
  /** Source uploads of a piece it had sent already, while another had never left it. */
  sourceRepeatsEarly: number;
  totalUploads: number;
  /** Kumar-Ross bound for this swarm, ms. */
  boundMs: number;
  events: number;
  /** Share of the swarm's total uplink in use at each sample. */
  uplinkUse: number[];
  /** Share of the source's uplink in use at each sample. */
  sourceUse: number[];
  /** When the source had sent every piece at least once (ms), if it did. */
  sourceAllSentMs: number | undefined;
  /** Cut-through: forwarded transfers restarted because their sender's copy failed or was cut off. */
  forwardsRestarted: number;
  /** Pieces that reached a downloader before the peer that sent them held them (must be 0). */
  arrivedBeforeSenderHad: number;
}

/** mulberry32: a seeded uniform [0, 1). */
export function seededRng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/**
 * T_min = max(F/u_s, F/d_min, N F/(u_s + sum u_i)) (Kumar and Ross, 2006) over the downloaders,
 * with u_s the source's uplink (hosts holding everything at the start count as sources).
 */
export function kumarRossBoundMs(sizeBytes: number, hosts: readonly SimHost[]): number {
  const sources = hosts.filter((h) => h.have === "all");
  const leechers = hosts.filter((h) => h.have !== "all");
  const us = sources.reduce((s, h) => s + h.upBps, 0);
  const dmin = Math.min(...leechers.map((h) => h.downBps));
  const sumUp = us + leechers.reduce((s, h) => s + h.upBps, 0);
  const seconds = Math.max(
    us > 0 ? sizeBytes / us : 0,
    sizeBytes / dmin,
    (leechers.length * sizeBytes) / sumUp,
  );
  return seconds * 1000;
}

/** Simulated ms between global rate recomputations (max-min sharing). */
const RECOMPUTE_MS = 5;

/** A binary min-heap by `less`; among equals, pops follow no particular order. */
class MinHeap<T> {
  #a: T[] = [];
  #less: (x: T, y: T) => boolean;
  constructor(less: (x: T, y: T) => boolean) {
    this.#less = less;
  }
  push(e: T): void {
    const a = this.#a;
    a.push(e);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.#less(e, a[p]!)) break;
      a[i] = a[p]!;
      i = p;
    }
    a[i] = e;
  }
  pop(): T | undefined {
    const a = this.#a;
    const top = a[0];
    const last = a.pop();
    if (top === undefined || last === undefined || a.length === 0) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= a.length) break;
      const r = l + 1;
      const c = r < a.length && this.#less(a[r]!, a[l]!) ? r : l;
      if (!this.#less(a[c]!, last)) break;
      a[i] = a[c]!;
      i = c;
    }
    a[i] = last;
    return top;
  }
}

interface Ev {
  at: number;
  seq: number;
  fn: () => void;
}

/** Events by (time, insertion order): ties run in the order they were made. */
class EventHeap {
  #heap = new MinHeap<Ev>((x, y) => x.at < y.at || (x.at === y.at && x.seq < y.seq));
  #seq = 0;
  push(at: number, fn: () => void): void {
    this.#heap.push({ at, seq: this.#seq++, fn });
  }
  pop(): Ev | undefined {
    return this.#heap.pop();
  }
}

/** A downloader's link to one seeder, seen from both ends. */
interface Conn {
  from: number; // downloader
  to: number; // seeder
  admitted: boolean;
  closed: boolean;
  busy: boolean; // a piece of this connection is being sent
  /** From a piece's start to its seeder hearing it arrived, the last time (as lib/peer/server.ts measures). */
  pieceMs: number | undefined;
  /**
   * When the bitfield reaches the downloader: its seeder's later messages (have, resume) come
   * after it, as on one TCP stream. Without that, a "have" sent just after the bitfield was
   * taken overtook it, reached a core that had not heard of the peer yet, and was lost.
   */
  readyAt: number;
}

interface Transfer {
  conn: Conn;
  index: number;
  good: boolean;
  left: number;
  rate: number; // bytes per ms
  atMs: number;
  version: number;
  /** Cut-through: the transfer bringing this piece to our sender, while its sender lacks it. */
  up: Transfer | undefined;
  /** Cut-through: transfers forwarding what this one brings. */
  forwards: Transfer[];
  /** Cut-through: sent all it may; waits for `up` to end (or, `stalled`, for the sender to hold the piece). */
  waiting: boolean;
  stalled: boolean;
  ended: boolean;
  startMs: number;
  /** Sent as one part: its downloader does not count it as arriving (lib/download/engine.ts). */
  whole: boolean;
}

/** Cut-through: the bytes a forwarder holds back until its copy is checked (its last part). */
const HELD_BACK_BYTES = PIECE_PART_BYTES;

interface Node {
  host: SimHost;
  id: string;
  have: Bitfield;
  core?: DownloadCore;
  serve: ServeQueue<Conn>;
  superSeed: SuperSeed<Conn> | undefined;
  inbound: Conn[];
  outbound: Map<number, Conn>;
  ups: Set<Transfer>;
  downs: Set<Transfer>;
  /** Cut-through: the transfer whose arriving bytes this node forwards, per piece it lacks. */
  partial: Map<number, Transfer>;
  /** Cut-through: pieces announced on their first bytes. */
  announcedEarly: Set<number>;
  /** Pieces arriving here, as last told to seeders (p_arriving). */
  arrivingTold: number;
  started: boolean;
  done: boolean;
}

/** Runs one swarm to completion (or `limitMs`) and reports every downloader's finish time. */
export function simulateSwarm(options: SimOptions): SimResult {
  const { sizeBytes, hosts, seed } = options;
  const count = pieceCount(sizeBytes);
  const rng = seededRng(seed);
  // A piece holds its slot until it has arrived, as lib/peer/send_slots.ts counts them (the
  // p_got's half round trip aside).
  const sendSlots = options.sendSlots ?? DEFAULT_SEND_SLOTS.connections;
  const limitMs = options.limitMs ?? 3_600_000;
  const tickMs = 1_000;
  const trees = options.stripeTrees === undefined ? undefined : treesFor(hosts, options.stripeTrees);
  const heap = new EventHeap();
  let now = 0;
  let events = 0;
  const result: SimResult = {
    finishMs: [],
    startMs: [],
    gaveUp: 0,
    badWritten: 0,
    badReceived: 0,
    sourceUploads: 0,
    sourceRepeatsEarly: 0,
    totalUploads: 0,
    boundMs: kumarRossBoundMs(sizeBytes, hosts),
    events: 0,
    uplinkUse: [],
    sourceUse: [],
    sourceAllSentMs: undefined,
    forwardsRestarted: 0,
    arrivedBeforeSenderHad: 0,
  };
  const cutThrough = options.cutThrough !== false;
  const byId = new Map<string, number>();
  const sourceSent = new Set<number>(); // pieces a full seeder has sent (one source in these swarms)
  const nodes: Node[] = hosts.map((host, i) => {
    const have = new Bitfield(count);
    if (host.have === "all") for (let p = 0; p < count; p++) have.set(p);
    else for (const p of host.have ?? []) have.set(p);
    const id = `h${i}:1`;
    byId.set(id, i);
    return {
      host,
      id,
      have,
      serve: new ServeQueue<Conn>({
        maxQueuedPerConnection: 64,
        maxQueuedTotal: options.maxQueuedTotal ?? DEFAULT_QUEUED_TOTAL,
      }),
      superSeed:
        host.have === "all" && options.superSeed !== false && trees === undefined
          ? new SuperSeed<Conn>(
              count,
              options.superSeedOffers === undefined ? {} : { offersPerConnection: options.superSeedOffers },
            )
          : undefined,
      inbound: [],
      outbound: new Map(),
      ups: new Set(),
      downs: new Set(),
      partial: new Map(),
      announcedEarly: new Set(),
      arrivingTold: 0,
      started: host.have === "all",
      done: have.isComplete(),
    };
  });
  const leechers = nodes.map((_, i) => i).filter((i) => !nodes[i]!.done);
  // When each node first held each piece whole (checked), apart from the simulation's own state.
  const heldAt = nodes.map((n) => {
    const at = new Map<number, number>();
    for (let p = 0; p < count; p++) if (n.have.has(p)) at.set(p, -1);
    return at;
  });
  const finish = new Map<number, number>();
  let remaining = leechers.length;
  const lat = (a: number, b: number) => nodes[a]!.host.latencyMs + nodes[b]!.host.latencyMs;
  const at = (delayMs: number, fn: () => void) => heap.push(now + delayMs, fn);
  const nodeOf = (i: number) => nodes[i]!;

  // ---- transfers (fluid model) ----
  // min(up_A / uploads of A, down_B / downloads into B): exact for this model at every change,
  // if pessimistic against TCP (a share one end cannot use is not given to the others).
  const rateOf = (t: Transfer) => {
    const up = nodeOf(t.conn.to);
    const down = nodeOf(t.conn.from);
    return Math.min(up.host.upBps / 1000 / up.ups.size, down.host.downBps / 1000 / down.downs.size);
  };
  /** Moves `t` on to `now`; a forwarded transfer never gets ahead of its sender's copy. */
  const advance = (t: Transfer) => {
    t.left -= t.rate * (now - t.atMs);
    t.atMs = now;
    if (t.up && !t.up.ended) {
      advance(t.up);
      t.left = Math.max(t.left, t.up.left, Math.min(HELD_BACK_BYTES, pieceLength(sizeBytes, t.index)));
    }
  };
  /** Takes no share of either link: done but for its upstream, or waiting for its sender's copy. */
  const idle = (t: Transfer) => t.waiting || t.stalled;
  const reschedule = (t: Transfer) => {
    advance(t);
    if (idle(t)) return;
    t.rate = rateOf(t);
    const version = ++t.version;
    at(Math.max(0, t.left) / t.rate, () => {
      if (t.version === version) endTransfer(t);
    });
  };
  const active = new Set<Transfer>();
  const maxMin = (options.sharing ?? "max-min") === "max-min";
  let recomputeAt = -1; // a pending global recompute, or -1
  let lastRecompute = -Infinity;
  /** Max-min fair rates over every uplink and downlink at once (progressive filling). */
  const recompute = () => {
    recomputeAt = -1;
    lastRecompute = now;
    const byRes: Transfer[][] = Array.from({ length: 2 * nodes.length }, () => []);
    const upstreamRate = new Map<Transfer, number>();
    for (const t of active) {
      advance(t);
      if (t.up && !t.up.ended) upstreamRate.set(t, t.up.rate);
    }
    // A forward caught up with its sender's copy goes no faster than that copy arrives: one more
    // resource of its own, of that rate (the upstream's rate of the last recompute).
    const capOf = new Map<Transfer, number>();
    for (const t of active) {
      if (idle(t)) {
        t.rate = 0;
        continue;
      }
      t.rate = -1; // not yet fixed
      byRes[2 * t.conn.to]?.push(t);
      byRes[2 * t.conn.from + 1]?.push(t);
      const up = t.up;
      if (up && !up.ended && t.left <= up.left + HELD_BACK_BYTES) {
        capOf.set(t, byRes.length);
        byRes.push([t]);
      }
    }
    const cap = new Float64Array(byRes.length);
    const users = new Int32Array(byRes.length);
    for (const [t, r] of capOf) cap[r] = Math.max(1e-6, upstreamRate.get(t) ?? 0);
    const heapRes = new MinHeap<[number, number]>((x, y) => x[0] < y[0]); // [fair share, resource]
    const pushRes = (r: number) => {
      if (users[r]! > 0) heapRes.push([cap[r]! / users[r]!, r]);
    };
    for (let i = 0; i < nodes.length; i++) {
      cap[2 * i] = nodeOf(i).host.upBps / 1000;
      cap[2 * i + 1] = nodeOf(i).host.downBps / 1000;
    }
    for (let r = 0; r < byRes.length; r++) {
      users[r] = byRes[r]?.length ?? 0;
      pushRes(r);
    }
    for (let top = heapRes.pop(); top; top = heapRes.pop()) {
      const [share, r] = top;
      if (users[r] === 0 || Math.abs(share - cap[r]! / users[r]!) > 1e-12) continue; // stale
      for (const t of byRes[r] ?? []) {
        if (t.rate >= 0) continue;
        t.rate = share;
        for (const other of [2 * t.conn.from + 1, 2 * t.conn.to, capOf.get(t) ?? r]) {
          if (other === r) continue;
          cap[other] = Math.max(0, cap[other]! - share);
          users[other]! -= 1;
          pushRes(other);
        }
      }
      users[r] = 0;
    }
    let forwarding = false;
    for (const t of active) {
      const version = ++t.version;
      if (idle(t)) continue;
      if (t.rate <= 0) t.rate = 1e-9;
      if (t.up && !t.up.ended) forwarding = true;
      at(Math.max(0, t.left) / t.rate, () => {
        if (t.version === version) endTransfer(t);
      });
    }
    // A forward's cap follows its upstream's rate, which the recompute itself changes.
    if (forwarding) {
      recomputeAt = now + RECOMPUTE_MS;
      heap.push(recomputeAt, recompute);
    }
  };
  /** Rates changed at node `n`: locally at once (min model), or in the next global recompute. */
  const touch = (n: Node) => {
    if (maxMin) {
      if (recomputeAt >= 0) return;
      recomputeAt = Math.max(now, lastRecompute + RECOMPUTE_MS);
      heap.push(recomputeAt, recompute);
      return;
    }
    for (const t of n.ups) reschedule(t);
    for (const t of n.downs) reschedule(t);
  };
  const startTransfer = (conn: Conn, index: number) => {
    const up = nodeOf(conn.to);
    const down = nodeOf(conn.from);
    const t: Transfer = {
      conn,
      index,
      good: !up.host.liar,
      left: pieceLength(sizeBytes, index),
      rate: 0,
      atMs: now,
      version: 0,
      up: undefined,
      forwards: [],
      waiting: false,
      stalled: false,
      ended: false,
      startMs: now,
      whole: up.have.has(index) && (conn.pieceMs ?? Infinity) < WHOLE_PIECE_MS,
    };
    if (cutThrough) forwardFrom(up, t);
    conn.busy = true;
    up.ups.add(t);
    down.downs.add(t);
    active.add(t);
    if (maxMin) reschedule(t); // a provisional rate until the next recompute
    result.totalUploads++;
    if (up.host.have === "all") {
      result.sourceUploads++;
      if (sourceSent.has(index)) {
        if (sourceSent.size < count) result.sourceRepeatsEarly++;
      } else {
        sourceSent.add(index);
        if (sourceSent.size === count) result.sourceAllSentMs = now;
      }
    }
    for (const r of up.superSeed?.sent(conn, index) ?? []) tellHaves(r.conn, r.indexes, r.all);
    touch(up);
    touch(down);
    if (!t.whole) at(lat(conn.from, conn.to) / 2, () => tellArriving(conn.from)); // its first part is in
  };
  const endTransfer = (t: Transfer) => {
    const up = nodeOf(t.conn.to);
    const down = nodeOf(t.conn.from);
    if (t.up && !t.up.ended) {
      // All but the held-back bytes are through; the rest follows once the sender's copy is checked.
      advance(t);
      t.waiting = true;
      t.rate = 0;
      t.version++;
      touch(up);
      return;
    }
    t.ended = true;
    t.left = 0;
    if (cutThrough) upstreamEnded(t);
    up.ups.delete(t);
    down.downs.delete(t);
    active.delete(t);
    t.conn.busy = false;
    touch(up);
    touch(down);
    // The last byte reaches the downloader one latency later.
    const { conn, index, good, startMs } = t;
    at(lat(conn.from, conn.to) / 2, () => {
      if (conn.closed) return;
      conn.pieceMs = now - startMs + lat(conn.from, conn.to) / 2; // its p_got's way back
      const d = nodeOf(conn.from);
      if (!good) result.badReceived++;
      else {
        if (!((heldAt[conn.to]!.get(index) ?? Infinity) <= now)) result.arrivedBeforeSenderHad++;
        if (!heldAt[conn.from]!.has(index)) heldAt[conn.from]!.set(index, now);
      }
      tellArriving(conn.from);
      apply(
        conn.from,
        d.core?.handle({
          t: "piece",
          nowMs: now,
          peer: nodeOf(conn.to).id,
          index,
          bytes: pieceLength(sizeBytes, index),
          check: () => good,
        }) ?? [],
        good,
      );
    });
    pump(conn.to);
  };
  /** Pieces partly at node `i` now: counted, as lib/download/engine.ts counts them. */
  const arrivingAt = (i: number) => {
    let count = 0;
    for (const t of nodeOf(i).downs) if (!t.whole && !t.stalled) count++;
    return count;
  };
  /** On a change, node `i` tells the seeders holding its requests not yet begun (p_arriving). */
  const tellArriving = (i: number) => {
    const n = nodeOf(i);
    const count = arrivingAt(i);
    if (count === n.arrivingTold || !n.core) return;
    n.arrivingTold = count;
    for (const conn of n.outbound.values()) {
      let receiving = 0;
      for (const t of n.downs) if (t.conn === conn && !t.whole && !t.stalled) receiving++;
      if (!conn.admitted || n.core.requestsAt(nodeOf(conn.to).id) <= receiving) continue;
      at(lat(conn.from, conn.to) / 2, () => {
        if (!conn.closed) nodeOf(conn.to).serve.arriving(conn, count);
      });
    }
  };
  // ---- cut-through ----
  /** `t` leaves `sender`: forwarded from the copy it is receiving, if it lacks the piece. */
  const forwardFrom = (sender: Node, t: Transfer) => {
    if (!sender.have.has(t.index)) {
      const u = sender.partial.get(t.index);
      if (u) {
        t.up = u;
        u.forwards.push(t);
      } else t.stalled = true; // the copy it announced was cut off: wait for the piece itself
    }
    const receiver = nodeOf(t.conn.from);
    if (receiver.have.has(t.index) || receiver.partial.has(t.index)) return;
    // Sent whole (a fast connection): nothing to pass on before it has all arrived.
    if (sender.have.has(t.index) && (t.conn.pieceMs ?? Infinity) < WHOLE_PIECE_MS) return;
    receiver.partial.set(t.index, t);
    if (receiver.announcedEarly.has(t.index)) return;
    receiver.announcedEarly.add(t.index);
    // Its first bytes reach the receiver, which announces the piece to its own downloaders.
    at(lat(t.conn.from, t.conn.to) / 2, () => announce(t.conn.from, t.index));
  };
  /** `t` ended (whole, or cut off): its forwards finish, or wait for their sender's own copy. */
  const upstreamEnded = (t: Transfer, cutOff = false) => {
    const receiver = nodeOf(t.conn.from);
    if (receiver.partial.get(t.index) === t && (cutOff || !t.good)) receiver.partial.delete(t.index);
    for (const f of t.forwards) {
      if (f.ended || !active.has(f) || f.up !== t) continue;
      // What it forwarded is not the piece: it starts over from the sender's own copy.
      if (cutOff || !t.good) startOver(receiver, f);
      else if (f.waiting) at(lat(t.conn.from, t.conn.to) / 2, () => endTransfer(f)); // once its sender holds the copy
    }
    touch(receiver);
  };
  /** Forward `f` of `sender` goes again from its first byte: at once if it holds the piece, else once it does. */
  const startOver = (sender: Node, f: Transfer) => {
    result.forwardsRestarted++;
    f.up = undefined;
    f.waiting = false;
    f.stalled = !sender.have.has(f.index);
    f.rate = 0;
    f.atMs = now;
    f.left = pieceLength(sizeBytes, f.index);
    f.version++;
  };
  /**
   * A node holds `index` now: its stalled forwards of it start over from its own copy, and so
   * do those following another copy, never checked (lib/peer/catalog.ts announce).
   */
  const restartStalled = (n: Node, index: number) => {
    n.partial.delete(index);
    for (const f of n.ups) {
      if (f.index !== index) continue;
      if (f.stalled) {
        f.stalled = false;
        f.atMs = now;
        f.rate = 0;
      } else if (f.up && !f.up.ended) startOver(n, f);
    }
    touch(n);
  };
  /** A message from `c`'s seeder to its downloader: half a round trip, and never before the bitfield. */
  const toDownloader = (c: Conn, fn: () => void) => at(Math.max(lat(c.from, c.to) / 2, c.readyAt - now), fn);

  /** Node `i` tells its downloaders it has piece `index`. */
  const announce = (i: number, index: number) => {
    const n = nodeOf(i);
    for (const c of n.inbound) {
      if (c.closed || !c.admitted) continue;
      toDownloader(c, () => {
        if (!c.closed)
          apply(c.from, nodeOf(c.from).core?.handle({ t: "have", nowMs: now, peer: n.id, index }) ?? []);
      });
    }
  };

  const pump = (i: number) => {
    const n = nodeOf(i);
    const slots = n.have.isComplete() ? (options.seedSendSlots ?? sendSlots) : sendSlots;
    while (n.ups.size < slots) {
      const next = n.serve.next((c) => !c.closed && !c.busy);
      if (!next) break;
      // would be rejected; our cores never ask so (and with cut-through, an early announcement stands)
      if (!n.have.has(next.index) && !n.host.liar && !n.announcedEarly.has(next.index)) continue;
      startTransfer(next.conn, next.index);
    }
    for (const c of n.serve.toResume()) {
      toDownloader(c, () => {
        if (!c.closed)
          apply(c.from, nodeOf(c.from).core?.handle({ t: "resume", nowMs: now, peer: n.id }) ?? []);
      });
    }
  };

  // ---- the cores' effects ----
  const apply = (i: number, effects: Effect[], pieceGood = true) => {
    const n = nodeOf(i);
    for (const e of effects) {
      switch (e.t) {
        case "dial":
          dial(i, e.peer);
          break;
        case "request": {
          const conn = n.outbound.get(byId.get(e.peer) ?? -1);
          if (!conn) break;
          const arriving = n.arrivingTold;
          at(lat(conn.from, conn.to) / 2, () => {
            if (conn.closed) return;
            if (nodeOf(conn.to).serve.request(conn, e.index, e.missing, arriving) === "busy")
              at(lat(conn.from, conn.to) / 2, () => {
                if (!conn.closed)
                  apply(
                    conn.from,
                    n.core?.handle({ t: "busy", nowMs: now, peer: nodeOf(conn.to).id, index: e.index }) ?? [],
                  );
              });
            pump(conn.to);
          });
          break;
        }
        case "cancel": {
          const conn = n.outbound.get(byId.get(e.peer) ?? -1);
          if (conn) at(lat(conn.from, conn.to) / 2, () => nodeOf(conn.to).serve.cancel(conn, e.index));
          break;
        }
        case "decline": {
          const conn = n.outbound.get(byId.get(e.peer) ?? -1);
          if (conn)
            at(lat(conn.from, conn.to) / 2, () => {
              if (conn.closed) return;
              for (const r of nodeOf(conn.to).superSeed?.declined(conn) ?? [])
                tellHaves(r.conn, r.indexes, r.all);
            });
          break;
        }
        case "drop":
          closeConn(n.outbound.get(byId.get(e.peer) ?? -1));
          break;
        case "write":
          if (!pieceGood) result.badWritten++;
          // Written at once (the disk is not the limit here).
          at(0, () => apply(i, n.core?.handle({ t: "written", nowMs: now, index: e.index }) ?? []));
          break;
        case "announce":
          n.have.set(e.index);
          if (cutThrough) restartStalled(n, e.index);
          announce(i, e.index);
          break;
        case "refresh_peers":
          at(2 * nodeOf(0).host.latencyMs + 2 * n.host.latencyMs, () => {
            // The tracker lists every live sharer, in the same order to everyone.
            const listed = trees
              ? [...new Set(trees.parents[i - 1])].map((j) => nodeOf(j).id)
              : nodes.filter((m, j) => j !== i && m.started).map((m) => m.id);
            apply(i, n.core?.handle({ t: "peers", nowMs: now, peers: listed }) ?? []);
          });
          break;
        case "finish":
          n.done = true;
          remaining--;
          finish.set(i, now);
          break;
        case "give_up":
          n.done = true;
          remaining--;
          result.gaveUp++;
          break;
      }
    }
  };
  /** The seeder of `conn` tells its downloader it has these pieces. */
  const tellHaves = (conn: Conn, indexes: readonly number[], all?: true) => {
    const peer = nodeOf(conn.to).id;
    toDownloader(conn, () => {
      if (conn.closed) return;
      const core = nodeOf(conn.from).core;
      if (all) apply(conn.from, core?.handle({ t: "have_all", nowMs: now, peer }) ?? []);
      else
        for (const index of indexes)
          apply(conn.from, core?.handle({ t: "have", nowMs: now, peer, index }) ?? []);
    });
  };
  const dial = (i: number, peer: string) => {
    const j = byId.get(peer);
    if (j === undefined) return;
    const conn: Conn = {
      from: i,
      to: j,
      admitted: false,
      closed: false,
      busy: false,
      pieceMs: undefined,
      readyAt: Infinity,
    };
    nodeOf(i).outbound.set(j, conn);
    // connect + challenge + hello + check + bitfield: two round trips.
    at(lat(i, j), () => {
      if (conn.closed) return;
      const s = nodeOf(j);
      conn.admitted = true;
      conn.readyAt = now + lat(i, j);
      s.inbound.push(conn);
      s.serve.open(conn, "f");
      const superSeed = s.superSeed?.active === true;
      const bits = (superSeed ? s.superSeed?.open(conn) : undefined) ?? s.have.clone();
      // The seeder learns of a downloader of its own file: it may fetch from it too.
      if (s.core && !s.done && !trees)
        apply(j, s.core.handle({ t: "peers", nowMs: now, peers: [nodeOf(i).id], introduced: true }));
      at(lat(i, j), () => {
        if (!conn.closed)
          apply(
            i,
            nodeOf(i).core?.handle({ t: "peer_ready", nowMs: now, peer: s.id, have: bits, superSeed }) ?? [],
          );
      });
    });
  };
  const closeConn = (conn: Conn | undefined) => {
    if (!conn || conn.closed) return;
    conn.closed = true;
    const s = nodeOf(conn.to);
    s.serve.close(conn);
    for (const r of s.superSeed?.close(conn) ?? []) tellHaves(r.conn, r.indexes, r.all);
    s.inbound = s.inbound.filter((c) => c !== conn);
    for (const t of [...s.ups])
      if (t.conn === conn) {
        s.ups.delete(t);
        nodeOf(conn.from).downs.delete(t);
        active.delete(t);
        t.version++;
        t.ended = true;
        if (cutThrough) upstreamEnded(t, true);
        touch(s);
        touch(nodeOf(conn.from));
      }
    nodeOf(conn.from).outbound.delete(conn.to);
    tellArriving(conn.from);
    at(lat(conn.from, conn.to) / 2, () =>
      apply(conn.from, nodeOf(conn.from).core?.handle({ t: "peer_closed", nowMs: now, peer: s.id }) ?? []),
    );
    pump(conn.to);
  };

  // ---- start ----
  const spread = options.startSpreadMs ?? 0;
  const started = new Map<number, number>();
  for (const i of leechers) {
    at(spread * rng(), () => {
      const n = nodeOf(i);
      n.started = true;
      started.set(i, now);
      const parents = trees?.parents[i - 1];
      n.core = new DownloadCore(
        {
          sizeBytes,
          selfPeer: n.id,
          have: n.have.clone(),
          nowMs: now,
          ...(trees && parents
            ? {
                mayAsk: (peer: string, index: number) =>
                  byId.get(peer) === parents[stripeOf(index, trees.stripes)],
              }
            : {}),
        },
        options.core ?? {},
        rng,
      );
      apply(i, n.core.start(now));
      const tick = () => {
        if (n.done) return;
        apply(i, n.core?.handle({ t: "tick", nowMs: now }) ?? []);
        at(tickMs, tick);
      };
      at(tickMs, tick);
    });
  }
  // A super-seeder's offers age with each second too (lib/peer/server.ts ticks it).
  for (const n of nodes) {
    const seed = n.superSeed;
    if (!seed) continue;
    const tick = () => {
      if (!seed.active || remaining === 0) return;
      for (const r of seed.tick()) tellHaves(r.conn, r.indexes, r.all);
      at(1_000, tick);
    };
    at(1_000, tick);
  }
  if (options.sampleMs) {
    const every = options.sampleMs;
    const capacity = nodes.reduce((sum, n) => sum + n.host.upBps / 1000, 0);
    const sample = () => {
      let use = 0;
      for (const n of nodes) for (const t of n.ups) use += t.rate;
      result.uplinkUse.push(use / capacity);
      let source = 0;
      for (const t of nodeOf(0).ups) source += t.rate;
      result.sourceUse.push(source / (nodeOf(0).host.upBps / 1000));
      at(every, sample);
    };
    at(every, sample);
  }
  for (let e = heap.pop(); e; e = heap.pop()) {
    if (e.at > limitMs) break;
    now = e.at;
    events++;
    e.fn();
    if (remaining === 0) break;
  }
  result.finishMs = leechers.map((i) => finish.get(i));
  result.startMs = leechers.map((i) => started.get(i) ?? 0);
  result.events = events;
  return result;
}

/** The stripe trees over `hosts`: one source first, then the downloaders. */
function treesFor(hosts: readonly SimHost[], stripes: number): StripeTrees {
  if (hosts[0]?.have !== "all" || hosts.slice(1).some((h) => h.have !== undefined && h.have.length > 0))
    throw new RangeError("Invalid stripe trees: hosts[0] must be the only host with pieces");
  return stripeTrees(hosts.length - 1, stripes);
}

/** Swarm shapes of the bench and the tests: rates in bit/s. */
export function flashCrowd(options: {
  peers: number;
  sourceBits: number;
  peerBits: (i: number) => number;
  latencyMs?: number;
}): SimHost[] {
  const latencyMs = options.latencyMs ?? 0.25;
  const bytes = (bits: number) => bits / 8;
  return [
    { upBps: bytes(options.sourceBits), downBps: bytes(options.sourceBits), latencyMs, have: "all" },
    ...Array.from({ length: options.peers }, (_, i) => ({
      upBps: bytes(options.peerBits(i)),
      downBps: bytes(options.peerBits(i)),
      latencyMs,
    })),
  ];
}
