// spec/unit/download/core.spec.ts: DownloadCore's decisions, driven by events in milliseconds:
// cooldowns, endgame, the 60 s give-up, a peer caught lying, request windows, the current rate.
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import {
  type CoreEvent,
  DEFAULT_CORE_OPTIONS,
  DownloadCore,
  type Effect,
} from "../../../lib/download/core.ts";
import { Bitfield } from "../../../lib/pieces/bitfield.ts";
import { PIECE_BYTES } from "../../../lib/pieces/constants.ts";

const FC_RUNS = Number(process.env.FC_RUNS ?? 200);

function full(count: number): Bitfield {
  const b = new Bitfield(count);
  for (let i = 0; i < count; i++) b.set(i);
  return b;
}

/** A core for a file of `pieces` whole pieces, started at t=0. */
function core(pieces: number, options: Parameters<typeof makeCore>[1] = {}) {
  return makeCore(pieces, options);
}
function makeCore(pieces: number, options: Partial<typeof DEFAULT_CORE_OPTIONS>) {
  const c = new DownloadCore(
    { sizeBytes: pieces * PIECE_BYTES, selfPeer: "me:1", nowMs: 0 },
    options,
    () => 0,
  );
  return { c, start: c.start(0) };
}

const of = <T extends Effect["t"]>(effects: Effect[], t: T) =>
  effects.filter((e): e is Extract<Effect, { t: T }> => e.t === t);

/** Connects `peer` holding `have` at `nowMs`; returns the requests it got. */
function connect(c: DownloadCore, peer: string, have: Bitfield, nowMs = 0): Effect[] {
  const dial = c.handle({ t: "peers", nowMs, peers: [peer] });
  expect(of(dial, "dial").map((e) => e.peer)).toEqual([peer]);
  return c.handle({ t: "peer_ready", nowMs, peer, have });
}

function piece(peer: string, index: number, nowMs: number, ok = true): CoreEvent {
  return { t: "piece", nowMs, peer, index, bytes: PIECE_BYTES, check: () => ok };
}

describe("DownloadCore", () => {
  test("asks for peers at start, dials them once, never itself", () => {
    const { c, start } = core(4);
    expect(start).toEqual([{ t: "refresh_peers" }]);
    const e = c.handle({ t: "peers", nowMs: 0, peers: ["me:1", "a:1", "b:1", "a:1"] });
    expect(
      of(e, "dial")
        .map((d) => d.peer)
        .sort(),
    ).toEqual(["a:1", "b:1"]);
    expect(c.handle({ t: "peers", nowMs: 10, peers: ["a:1"] })).toEqual([]);
  });

  test("maxPeers are dialled; beyond them only a peer that found us and no list showed, up to latePeers more", () => {
    const { c } = core(4, { maxPeers: 2, latePeers: 1 });
    const listed = c.handle({ t: "peers", nowMs: 0, peers: ["a:1", "b:1", "c:1"] });
    expect(of(listed, "dial").length).toBe(2);
    const skipped = ["a:1", "b:1", "c:1"].find((p) => c.peerPhase(p) === undefined) ?? "";
    // Listed once: it could have been picked, so connecting to us earns it no late place.
    expect(c.handle({ t: "peers", nowMs: 1, peers: [skipped], introduced: true })).toEqual([]);
    // Never listed (it started after we asked): fetched from in return, beyond maxPeers.
    const late = c.handle({ t: "peers", nowMs: 2, peers: ["late:1"], introduced: true });
    expect(of(late, "dial").map((d) => d.peer)).toEqual(["late:1"]);
    // The late places are full now.
    expect(c.handle({ t: "peers", nowMs: 3, peers: ["later:1"], introduced: true })).toEqual([]);
    expect(c.handle({ t: "peers", nowMs: 4, peers: ["d:1"] })).toEqual([]);
  });

  test("a resumed download with every piece finishes at once", () => {
    const c = new DownloadCore({ sizeBytes: 3 * PIECE_BYTES, selfPeer: "me:1", have: full(3), nowMs: 0 });
    expect(of(c.start(0), "finish")).toHaveLength(1);
  });

  test("requests start at initialRequestsPerPeer, then follow the measured rate and round trip", () => {
    const { c } = core(64);
    const first = of(connect(c, "a:1", full(64)), "request");
    expect(first).toHaveLength(DEFAULT_CORE_OPTIONS.initialRequestsPerPeer);
    // A slow link (one piece per 500 ms): the window stays at the minimum.
    c.handle(piece("a:1", first[0]!.index, 500));
    c.handle({ t: "written", nowMs: 500, index: first[0]!.index });
    expect(c.window("a:1")).toBe(DEFAULT_CORE_OPTIONS.minRequestsPerPeer);
    // A fast one (a piece every 0.5 ms, 1 GB/s) gets the whole maximum.
    const fast = of(connect(c, "b:1", full(64), 1000), "request");
    c.handle(piece("b:1", fast[0]!.index, 1000.5));
    c.handle(piece("b:1", fast[1]!.index, 1001));
    expect(c.window("b:1")).toBe(DEFAULT_CORE_OPTIONS.maxRequestsPerPeer);
  });

  test("a verified piece is written, announced once on disk, and the last one finishes", () => {
    const { c } = core(2, { initialRequestsPerPeer: 2 });
    const reqs = of(connect(c, "a:1", full(2)), "request");
    expect(reqs.map((r) => r.index).sort()).toEqual([0, 1]);
    expect(of(c.handle(piece("a:1", 0, 10)), "write")).toEqual([{ t: "write", index: 0 }]);
    expect(c.handle({ t: "written", nowMs: 11, index: 0 })).toEqual([{ t: "announce", index: 0 }]);
    expect(of(c.handle(piece("a:1", 1, 12)), "write")).toHaveLength(1);
    const last = c.handle({ t: "written", nowMs: 13, index: 1 });
    expect(last.map((e) => e.t)).toEqual(["announce", "drop", "finish"]);
    expect(c.handle({ t: "tick", nowMs: 100_000 })).toEqual([]); // over: nothing more
  });

  test("a piece never asked for, or from a dropped peer, is neither written nor counted", () => {
    const { c } = core(4, { initialRequestsPerPeer: 1 });
    const [r] = of(connect(c, "a:1", full(4)), "request");
    const other = (r!.index + 1) % 4;
    expect(c.handle(piece("a:1", other, 5))).toEqual([]);
    expect(c.handle(piece("z:1", r!.index, 5))).toEqual([]);
    expect(c.progress(5).bytesVerified).toBe(0);
  });

  test("a peer caught lying is dropped after strikesToDrop bad pieces and never dialled again", () => {
    const { c } = core(8, { initialRequestsPerPeer: 1, strikesToDrop: 3 });
    let reqs = of(connect(c, "liar:1", full(8)), "request");
    let now = 0;
    const drops: Effect[] = [];
    for (let strike = 1; strike <= 3; strike++) {
      now += 10;
      const e = c.handle(piece("liar:1", reqs[0]!.index, now, false));
      expect(of(e, "write")).toEqual([]);
      drops.push(...of(e, "drop"));
      reqs = of(e, "request");
      if (strike < 3) expect(reqs.map((r) => r.peer)).toContain("liar:1"); // asked again (the piece went back)
    }
    expect(drops).toEqual([
      {
        t: "drop",
        peer: "liar:1",
        why: "dropped after 3 pieces that failed their SHA-1 check",
        forGood: true,
      },
    ]);
    c.handle({ t: "peer_closed", nowMs: now, peer: "liar:1" });
    // Even when stuck (nobody else can serve) and long after, the liar is not dialled again.
    expect(c.handle({ t: "peers", nowMs: now + 10 * 60_000, peers: ["liar:1"] })).toEqual([]);
    expect(c.progress(now).badPieces).toBe(3);
  });

  test("a bad piece goes to another peer that has it", () => {
    const { c } = core(1, { initialRequestsPerPeer: 1 });
    connect(c, "bad:1", full(1));
    const e = connect(c, "good:1", full(1)); // endgame: asked too
    expect(of(e, "request")).toEqual([{ t: "request", peer: "good:1", index: 0, missing: 1 }]);
    c.handle(piece("bad:1", 0, 5, false));
    expect(of(c.handle(piece("good:1", 0, 6)), "write")).toHaveLength(1);
  });

  test("endgame: the last piece is asked of a second peer, and the loser is cancelled", () => {
    const { c } = core(1, { initialRequestsPerPeer: 4 });
    expect(of(connect(c, "slow:1", full(1)), "request")).toHaveLength(1);
    expect(of(connect(c, "fast:1", full(1)), "request")).toEqual([
      { t: "request", peer: "fast:1", index: 0, missing: 1 },
    ]);
    expect(of(connect(c, "third:1", full(1)), "request")).toEqual([]); // at most two per piece
    const e = c.handle(piece("fast:1", 0, 7));
    expect(of(e, "cancel")).toEqual([{ t: "cancel", peer: "slow:1", index: 0 }]);
    expect(c.handle(piece("slow:1", 0, 8))).toEqual([]); // cancelled, too late: ignored
    expect(c.progress(8).duplicates).toBe(0);
  });

  test("a stalled request drops its peer; the cooldown defers it only while others can serve", () => {
    const { c } = core(4, { initialRequestsPerPeer: 1, requestTimeoutMs: 15_000, cooldownMs: 30_000 });
    connect(c, "stall:1", full(4));
    connect(c, "ok:1", full(4));
    const e = c.handle({ t: "tick", nowMs: 15_000 });
    expect(
      of(e, "drop")
        .map((d) => d.peer)
        .sort(),
    ).toEqual(["ok:1", "stall:1"]);
    c.handle({ t: "peer_closed", nowMs: 15_001, peer: "stall:1" });
    c.handle({ t: "peer_closed", nowMs: 15_001, peer: "ok:1" });
    // Nobody connected: stuck, so the cooled-down peers are tried again at once.
    expect(of(c.handle({ t: "peers", nowMs: 16_000, peers: ["stall:1"] }), "dial")).toHaveLength(1);
    c.handle({ t: "peer_ready", nowMs: 16_000, peer: "stall:1", have: full(4) });
    // Now someone can serve: the other cooled-down peer waits out its 30 s.
    expect(c.handle({ t: "peers", nowMs: 17_000, peers: ["ok:1"] })).toEqual([]);
    expect(of(c.handle({ t: "peers", nowMs: 45_001, peers: ["ok:1"] }), "dial")).toHaveLength(1);
  });

  test("a dial with no answer in dialTimeoutMs is abandoned; with nobody else to fetch from it is tried again at once", () => {
    const { c } = core(2);
    expect(of(c.handle({ t: "peers", nowMs: 0, peers: ["a:1"] }), "dial")).toHaveLength(1);
    expect(of(c.handle({ t: "tick", nowMs: 9_999 }), "drop")).toEqual([]);
    expect(c.peerPhase("a:1")).toBe("dialing");
    expect(of(c.handle({ t: "tick", nowMs: 10_000 }), "drop")).toEqual([
      { t: "drop", peer: "a:1", why: "no answer to our dial in 10 s" },
    ]);
    expect(c.peerPhase("a:1")).toBeUndefined();
    // The abandoned attempt's bitfield, should it come, is not taken.
    expect(c.handle({ t: "peer_ready", nowMs: 10_001, peer: "a:1", have: full(2) })).toEqual([]);
    // Stuck (nobody connected has anything): the cooldown does not hold it back.
    expect(of(c.handle({ t: "peers", nowMs: 10_002, peers: ["a:1"] }), "dial")).toHaveLength(1);
    // While another peer serves, an abandoned one waits out its cooldown.
    const { c: d } = core(2);
    connect(d, "b:1", full(2));
    d.handle({ t: "peers", nowMs: 0, peers: ["a:1"] });
    d.handle({ t: "tick", nowMs: 10_000 });
    expect(of(d.handle({ t: "peers", nowMs: 10_001, peers: ["a:1"] }), "dial")).toEqual([]);
  });

  test("a failed dial is cooled down while another peer serves", () => {
    const { c } = core(4);
    connect(c, "ok:1", full(4));
    c.handle({ t: "peers", nowMs: 0, peers: ["down:1"] });
    c.handle({ t: "dial_failed", nowMs: 1, peer: "down:1" });
    expect(c.handle({ t: "peers", nowMs: 5_000, peers: ["down:1"] })).toEqual([]);
    expect(of(c.handle({ t: "peers", nowMs: 30_002, peers: ["down:1"] }), "dial")).toHaveLength(1);
  });

  test("a peer that rejects a piece it announced is dropped and its piece goes elsewhere", () => {
    const { c } = core(1, { initialRequestsPerPeer: 1 });
    connect(c, "a:1", full(1));
    connect(c, "b:1", full(1));
    c.handle({ t: "have", nowMs: 0, peer: "a:1", index: 0 });
    const e = c.handle({ t: "reject", nowMs: 1, peer: "a:1", index: 0 });
    expect(of(e, "drop")).toEqual([{ t: "drop", peer: "a:1", why: "rejected piece 0 it had announced" }]);
  });

  test("a peer that says busy gets no request until it resumes; its piece goes to another holder at once", () => {
    const { c } = core(4, { initialRequestsPerPeer: 1 });
    const a = of(connect(c, "a:1", full(4)), "request");
    expect(a).toHaveLength(1);
    const index = a[0]!.index;
    const e = c.handle({ t: "busy", nowMs: 1, peer: "a:1", index });
    expect(e).toEqual([]); // nobody else has it yet
    // b holds everything: the piece a did not take goes to b, and a is left alone meanwhile.
    const b = of(connect(c, "b:1", full(4), 2), "request");
    expect(b.map((r) => r.index)).toContain(index);
    expect(of(c.handle({ t: "have", nowMs: 3, peer: "a:1", index: 3 }), "request")).toEqual([]);
    // A busy answer for a request it was never sent changes nothing.
    expect(c.handle({ t: "busy", nowMs: 3, peer: "b:1", index: (index + 1) % 4 })).toEqual([]);
    const resumed = of(c.handle({ t: "resume", nowMs: 4, peer: "a:1" }), "request");
    expect(resumed.map((r) => r.peer)).toEqual(["a:1"]);
    expect(resumed[0]!.index).not.toBe(index); // b has that one
    // A seeder that never says resume is asked again after busyRetryMs.
    const { c: d } = core(2, { initialRequestsPerPeer: 1, busyRetryMs: 5_000 });
    const first = of(connect(d, "a:1", full(2)), "request")[0]!;
    d.handle({ t: "busy", nowMs: 10, peer: "a:1", index: first.index });
    expect(of(d.handle({ t: "tick", nowMs: 5_009 }), "request")).toEqual([]);
    expect(of(d.handle({ t: "tick", nowMs: 5_010 }), "request").map((r) => r.peer)).toEqual(["a:1"]);
  });

  test("have_all: a super-seeder that has sent every piece once is then asked for anything", () => {
    const { c } = core(4, { initialRequestsPerPeer: 2 });
    const shown = new Bitfield(4);
    shown.set(0);
    expect(of(connect(c, "a:1", shown), "request").map((r) => r.index)).toEqual([0]);
    const more = of(c.handle({ t: "have_all", nowMs: 1, peer: "a:1" }), "request");
    expect(more.map((r) => r.index)).toHaveLength(1); // the window (2) is full again
    expect(more[0]!.index).not.toBe(0);
    expect(c.handle({ t: "have_all", nowMs: 2, peer: "nobody:1" })).toEqual([]);
  });

  test("gives up after giveUpMs without progress and with no peer holding a missing piece: a tick, not a wait", () => {
    const { c } = core(4);
    const half = new Bitfield(4);
    expect(c.handle({ t: "tick", nowMs: 1_000 })).toEqual([{ t: "refresh_peers" }]); // stuck: asks every tick
    connect(c, "empty:1", half, 2_000); // a downloader as far behind as we are
    expect(of(c.handle({ t: "tick", nowMs: 60_000 }), "give_up")).toEqual([]);
    const e = c.handle({ t: "tick", nowMs: 60_001 });
    expect(of(e, "give_up")).toEqual([{ t: "give_up", why: "no live peer has the missing pieces" }]);
    expect(of(e, "drop")).toHaveLength(1);
  });

  test("does not give up while a connected peer holds a missing piece, however long", () => {
    const { c } = core(4, { initialRequestsPerPeer: 1, requestTimeoutMs: 10 ** 9 });
    connect(c, "a:1", full(4));
    expect(of(c.handle({ t: "tick", nowMs: 10 * 60_000 }), "give_up")).toEqual([]);
  });

  test("refreshes the peer list every refreshPeersMs while progressing", () => {
    const { c } = core(64);
    connect(c, "a:1", full(64));
    expect(c.handle({ t: "tick", nowMs: 4_999 })).toEqual([]);
    expect(c.handle({ t: "tick", nowMs: 5_000 })).toEqual([{ t: "refresh_peers" }]);
  });

  test("the current rate is the bytes verified over the last rateWindowMs (or since the start, if shorter)", () => {
    const { c } = core(64, { initialRequestsPerPeer: 4, rateWindowMs: 2_000 });
    const reqs = of(connect(c, "a:1", full(64)), "request");
    c.handle(piece("a:1", reqs[0]!.index, 100));
    expect(c.progress(500).bytesPerSecond).toBe(2 * PIECE_BYTES); // 1 piece in the first 0.5 s
    c.handle(piece("a:1", reqs[1]!.index, 1_100));
    expect(c.progress(1_500).bytesPerSecond).toBe((2 * PIECE_BYTES) / 1.5);
    expect(c.progress(2_000).bytesPerSecond).toBe(PIECE_BYTES); // 2 pieces in the last 2 s
    expect(c.progress(2_500).bytesPerSecond).toBe(PIECE_BYTES / 2);
    expect(c.progress(3_200).bytesPerSecond).toBe(0);
  });

  test("invariants under random event sequences: no double request to a peer, writes once per piece, window respected", () => {
    const peers = ["a:1", "b:1", "c:1"];
    const event = fc.oneof(
      fc.record({
        k: fc.constant("peer"),
        p: fc.integer({ min: 0, max: 2 }),
        bits: fc.array(fc.boolean(), { minLength: 6, maxLength: 6 }),
      }),
      fc.record({
        k: fc.constant("have"),
        p: fc.integer({ min: 0, max: 2 }),
        i: fc.integer({ min: 0, max: 5 }),
      }),
      fc.record({
        k: fc.constant("piece"),
        p: fc.integer({ min: 0, max: 2 }),
        i: fc.integer({ min: 0, max: 5 }),
        ok: fc.boolean(),
      }),
      fc.record({ k: fc.constant("close"), p: fc.integer({ min: 0, max: 2 }) }),
      fc.record({
        k: fc.constant("busy"),
        p: fc.integer({ min: 0, max: 2 }),
        i: fc.integer({ min: 0, max: 5 }),
      }),
      fc.record({ k: fc.constant("resume"), p: fc.integer({ min: 0, max: 2 }) }),
      fc.record({ k: fc.constant("tick"), dt: fc.integer({ min: 1, max: 20_000 }) }),
    );
    fc.assert(
      fc.property(fc.array(event, { maxLength: 80 }), fc.integer(), (events, seed) => {
        let s = seed >>> 0;
        const rng = () => {
          s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
          return s / 2 ** 32;
        };
        const c = new DownloadCore({ sizeBytes: 6 * PIECE_BYTES, selfPeer: "me:1", nowMs: 0 }, {}, rng);
        const outstanding = new Map<string, Set<number>>(peers.map((p) => [p, new Set()]));
        const writes = new Set<number>();
        // Peers that said busy, and when: asked nothing until they resume, or busyRetryMs later.
        const busy = new Map<string, number>();
        let now = 0;
        const apply = (effects: Effect[]) => {
          for (const e of effects) {
            if (e.t === "request") {
              // Nothing is asked of a peer that said busy, until it resumes or busyRetryMs passed.
              const since = busy.get(e.peer);
              expect(since === undefined || now - since >= DEFAULT_CORE_OPTIONS.busyRetryMs).toBe(true);
              busy.delete(e.peer);
              const set = outstanding.get(e.peer)!;
              expect(set.has(e.index)).toBe(false);
              set.add(e.index);
              expect(set.size).toBeLessThanOrEqual(DEFAULT_CORE_OPTIONS.maxRequestsPerPeer);
            } else if (e.t === "cancel") outstanding.get(e.peer)!.delete(e.index);
            else if (e.t === "drop") {
              outstanding.get(e.peer)?.clear();
              busy.delete(e.peer);
            } else if (e.t === "write") {
              expect(writes.has(e.index)).toBe(false);
              writes.add(e.index);
              apply(c.handle({ t: "written", nowMs: now, index: e.index }));
            }
          }
        };
        apply(c.start(0));
        for (const ev of events) {
          if (ev.k === "tick") {
            now += ev.dt;
            apply(c.handle({ t: "tick", nowMs: now }));
            continue;
          }
          const peer = peers[ev.p]!;
          if (ev.k === "peer") {
            apply(c.handle({ t: "peers", nowMs: now, peers: [peer] }));
            const have = new Bitfield(6);
            for (const [i, b] of ev.bits.entries()) if (b) have.set(i);
            apply(c.handle({ t: "peer_ready", nowMs: now, peer, have }));
          } else if (ev.k === "have") apply(c.handle({ t: "have", nowMs: now, peer, index: ev.i }));
          else if (ev.k === "busy") {
            // A seeder says busy only about a request it was sent.
            if (!outstanding.get(peer)!.delete(ev.i)) continue;
            busy.set(peer, now);
            apply(c.handle({ t: "busy", nowMs: now, peer, index: ev.i }));
          } else if (ev.k === "resume") {
            busy.delete(peer);
            apply(c.handle({ t: "resume", nowMs: now, peer }));
          } else if (ev.k === "close") {
            busy.delete(peer);
            outstanding.get(peer)!.clear();
            apply(c.handle({ t: "peer_closed", nowMs: now, peer }));
          } else {
            const asked = outstanding.get(peer)!.has(ev.i);
            outstanding.get(peer)!.delete(ev.i);
            const e = c.handle(piece(peer, ev.i, now, ev.ok));
            // Only a piece that was asked of that peer and checks is ever written.
            if (of(e, "write").length > 0) expect(asked && ev.ok).toBe(true);
            apply(e);
          }
        }
        expect(c.progress(now).bytesVerified).toBe(writes.size * PIECE_BYTES);
      }),
      { numRuns: FC_RUNS },
    );
  });
});
