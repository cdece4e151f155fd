// spec/prop/picker.spec.ts: PiecePicker against a plain model: eligibility, rarest first, no double requests, endgame, whether waiting can pay.
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
// mulberry32, seeded, so fast-check can shrink and replay the tie-breaks.
import { seededRng } from "../../bench/swarm_sim.ts";
import { Bitfield } from "../../lib/pieces/bitfield.ts";
import { ENDGAME_REQUESTERS, PiecePicker } from "../../lib/pieces/picker.ts";

const FC_RUNS = Number(process.env.FC_RUNS ?? 1000);
const PEERS = ["p1", "p2", "p3", "p4"] as const;
type MayAsk = (peerId: string, pieceIndex: number) => boolean;
type MakePicker = (size: number, rng: () => number, mayAsk?: MayAsk) => PiecePicker;

function bitfieldOf(size: number, pieces: Iterable<number>): Bitfield {
  const field = new Bitfield(size);
  for (const i of pieces) field.set(i);
  return field;
}

interface Model {
  size: number;
  peers: Map<string, Set<number>>;
  have: Set<number>;
  inFlight: Map<number, Set<string>>; // piece -> peers asked; never empty
  /** The picker's last draw from its rng: which of the tied pieces it must have taken. */
  lastDraw: number;
  /** Which peer may be asked for which piece (an overlay's choice); any, when absent. */
  mayAsk?: MayAsk;
}
type Cmd = fc.Command<Model, PiecePicker>;

const availability = (m: Model, i: number) => [...m.peers.values()].filter((bits) => bits.has(i)).length;
const requests = (m: Model) =>
  [...m.inFlight]
    .flatMap(([piece, askers]) => [...askers].map((peer) => ({ peer, piece })))
    .sort((a, b) => a.piece - b.piece || (a.peer < b.peer ? -1 : 1));

/** Whether some peer has a piece we lack, as the picker must tell the engine. */
function expectCanProgress(m: Model, r: PiecePicker): void {
  const useful = [...m.peers].some(([peer, bits]) =>
    [...bits].some((i) => !m.have.has(i) && (m.mayAsk?.(peer, i) ?? true)),
  );
  expect(r.canProgress()).toBe(useful);
}

class AddPeer implements Cmd {
  constructor(
    readonly peer: string,
    readonly bits: boolean[],
  ) {}
  check = (m: Model) => !m.peers.has(this.peer);
  run(m: Model, r: PiecePicker): void {
    const pieces = new Set(this.bits.slice(0, m.size).flatMap((bit, i) => (bit ? [i] : [])));
    r.addPeer(this.peer, bitfieldOf(m.size, pieces));
    m.peers.set(this.peer, pieces);
    expectCanProgress(m, r);
  }
  toString = () => `add(${this.peer}, ${this.bits.map(Number).join("")})`;
}

class RemovePeer implements Cmd {
  constructor(readonly peer: string) {}
  check = (m: Model) => m.peers.has(this.peer);
  run(m: Model, r: PiecePicker): void {
    const mine = requests(m)
      .filter((q) => q.peer === this.peer)
      .map((q) => q.piece);
    expect(r.removePeer(this.peer)).toEqual(mine);
    m.peers.delete(this.peer);
    for (const piece of mine) release(m, this.peer, piece);
    expectCanProgress(m, r);
  }
  toString = () => `remove(${this.peer})`;
}

class Have implements Cmd {
  constructor(
    readonly peer: string,
    readonly piece: number,
  ) {}
  check = (m: Model) => m.peers.has(this.peer);
  run(m: Model, r: PiecePicker): void {
    const piece = this.piece % m.size;
    const bits = m.peers.get(this.peer)!;
    expect(r.peerHas(this.peer, piece)).toBe(!bits.has(piece));
    bits.add(piece);
    expect(r.availability(piece)).toBe(availability(m, piece));
    expectCanProgress(m, r);
  }
  toString = () => `have(${this.peer}, #${this.piece})`;
}

class PickAndRequest implements Cmd {
  constructor(readonly peer: string) {}
  check = (m: Model) => m.peers.has(this.peer);
  run(m: Model, r: PiecePicker): void {
    const bits = m.peers.get(this.peer)!;
    const wanted = [...bits].filter((i) => !m.have.has(i) && (m.mayAsk?.(this.peer, i) ?? true));
    const idle = wanted.filter((i) => !m.inFlight.has(i));
    // Endgame only once every missing piece is in flight somewhere.
    let missingIdle = 0;
    for (let i = 0; i < m.size; i++) if (!m.have.has(i) && !m.inFlight.has(i)) missingIdle++;
    const endgame = wanted.filter(
      (i) =>
        missingIdle === 0 &&
        m.inFlight.has(i) &&
        !m.inFlight.get(i)!.has(this.peer) &&
        m.inFlight.get(i)!.size < ENDGAME_REQUESTERS,
    );
    const picked = r.pick(this.peer);
    if (picked === undefined) return void expect({ idle, endgame }).toEqual({ idle: [], endgame: [] });
    expect(bits.has(picked)).toBe(true); // never a piece the peer lacks
    expect(m.have.has(picked)).toBe(false); // never a piece we have
    expect(m.inFlight.get(picked)?.has(this.peer) ?? false).toBe(false); // never the same peer twice
    if (idle.length > 0) {
      expect(m.inFlight.has(picked)).toBe(false); // no second request outside endgame
      const rarest = Math.min(...idle.map((i) => availability(m, i)));
      expect(availability(m, picked)).toBe(rarest); // rarest first
      // Exactly the tie the draw names, in index order, whichever way the picker found the ties
      // (a scan for a peer lacking pieces, its tree of idle pieces for a peer that has them all).
      const ties = idle.filter((i) => availability(m, i) === rarest).sort((a, b) => a - b);
      expect(picked).toBe(ties[Math.min(ties.length - 1, Math.floor(m.lastDraw * ties.length))]!);
    } else {
      const outstanding = (i: number) => m.inFlight.get(i)!.size;
      expect(outstanding(picked)).toBe(Math.min(...endgame.map(outstanding))); // fewest requests first
    }
    r.markRequested(this.peer, picked);
    m.inFlight.set(picked, (m.inFlight.get(picked) ?? new Set()).add(this.peer));
    expect(r.requestCount(picked)).toBe(m.inFlight.get(picked)!.size);
  }
  toString = () => `pick(${this.peer})`;
}

class Verify implements Cmd {
  constructor(readonly pick: number) {}
  check = () => true;
  run(m: Model, r: PiecePicker): void {
    const flying = [...m.inFlight.keys()].sort((a, b) => a - b);
    const piece = flying.length > 0 ? flying[this.pick % flying.length]! : this.pick % m.size;
    const askers = [...(m.inFlight.get(piece) ?? [])].sort();
    const from = askers.length > 0 ? askers[this.pick % askers.length] : undefined;
    const expected = m.have.has(piece) ? [] : askers.filter((peer) => peer !== from);
    expect(r.markVerified(piece, from).sort()).toEqual(expected);
    m.have.add(piece);
    m.inFlight.delete(piece);
    expect(r.requestCount(piece)).toBe(0);
    expect(r.missingCount()).toBe(m.size - m.have.size);
    expect(r.isComplete()).toBe(m.have.size === m.size);
    expectCanProgress(m, r);
  }
  toString = () => `verify(#${this.pick})`;
}

class Release implements Cmd {
  constructor(readonly pick: number) {}
  check = (m: Model) => m.inFlight.size > 0;
  run(m: Model, r: PiecePicker): void {
    const all = requests(m);
    const { peer, piece } = all[this.pick % all.length]!;
    expect(r.release(peer, piece)).toBe(true);
    expect(r.release(peer, piece)).toBe(false);
    release(m, peer, piece);
  }
  toString = () => `release(#${this.pick})`;
}

function release(m: Model, peer: string, piece: number): void {
  const askers = m.inFlight.get(piece)!;
  askers.delete(peer);
  if (askers.size === 0) m.inFlight.delete(piece);
}

const peerArb = fc.constantFrom(...PEERS);
// Cut to the piece count; a seeder (every piece) often, as on a real download.
const bitsArb = fc.oneof(
  fc.array(fc.boolean(), { minLength: 16, maxLength: 16 }),
  fc.constant(Array.from({ length: 16 }, () => true)),
);
const commands = fc.commands(
  [
    fc.tuple(peerArb, bitsArb).map(([p, bits]) => new AddPeer(p, bits)),
    peerArb.map((p) => new RemovePeer(p)),
    fc.tuple(peerArb, fc.nat(15)).map(([p, i]) => new Have(p, i)),
    ...Array.from({ length: 4 }, () => peerArb.map((p) => new PickAndRequest(p))), // picks are under test: weigh 4
    fc.nat(31).map((i) => new Verify(i)),
    fc.nat(31).map((i) => new Release(i)),
  ],
  { maxCommands: 80, size: "+1" },
);
const startPeers = fc.array(bitsArb, { minLength: 1, maxLength: 3 });

/** With `restricted`, each peer may be asked only for some pieces, drawn at random (PEERS x 16). */
function pickerBehaves(make: MakePicker, restricted = false) {
  return fc.property(
    fc.integer({ min: 1, max: 12 }),
    fc.nat(),
    startPeers,
    commands,
    fc.array(fc.boolean(), { minLength: PEERS.length * 16, maxLength: PEERS.length * 16 }),
    (size, seed, start, cmds, allowed) => {
      const mayAsk: MayAsk | undefined = restricted
        ? (peer, piece) => allowed[PEERS.indexOf(peer as (typeof PEERS)[number]) * 16 + piece] ?? false
        : undefined;
      const model: Model = {
        size,
        peers: new Map(),
        have: new Set(),
        inFlight: new Map(),
        lastDraw: 0,
        ...(mayAsk ? { mayAsk } : {}),
      };
      const rng = seededRng(seed);
      const draw = () => {
        model.lastDraw = rng();
        return model.lastDraw;
      };
      const real = make(size, draw, mayAsk);
      for (const [i, bits] of start.entries()) new AddPeer(PEERS[i]!, bits).run(model, real);
      fc.modelRun(() => ({ model, real }), cmds);
    },
  );
}

/** One slow peer that never answers, one fast peer that answers at once; true if the download completes. */
function completesDespiteSlowPeer(
  make: MakePicker,
  size: number,
  seed: number,
  slowPipeline: number,
): boolean {
  const picker = make(size, seededRng(seed));
  const all = Array.from({ length: size }, (_, i) => i);
  for (const peerId of ["slow", "fast"]) picker.addPeer(peerId, bitfieldOf(size, all));
  let slowOutstanding = 0;
  for (let round = 0; round < 2 * size && !picker.isComplete(); round++) {
    for (
      let i = picker.pick("slow");
      slowOutstanding < slowPipeline && i !== undefined;
      i = picker.pick("slow")
    ) {
      picker.markRequested("slow", i); // asked first, so the slow peer holds the last pieces in flight
      slowOutstanding += 1;
    }
    const piece = picker.pick("fast");
    if (piece === undefined) return false;
    picker.markRequested("fast", piece);
    if (picker.markVerified(piece, "fast").includes("slow")) slowOutstanding -= 1; // cancelled
  }
  return picker.isComplete();
}

const realPicker: MakePicker = (size, rng, mayAsk) =>
  new PiecePicker(size, mayAsk ? { rng, mayAsk } : { rng });

/** Broken on purpose: lowest index first, ignoring rarity; proves the rarest-first check bites. */
class LowestFirst extends PiecePicker {
  #bits = new Map<string, Bitfield>();
  override addPeer(peerId: string, bitfield: Bitfield): void {
    super.addPeer(peerId, bitfield);
    this.#bits.set(peerId, bitfield.clone());
  }
  override peerHas(peerId: string, pieceIndex: number): boolean {
    this.#bits.get(peerId)!.set(pieceIndex);
    return super.peerHas(peerId, pieceIndex);
  }
  override pick(peerId: string): number | undefined {
    const bits = this.#bits.get(peerId)!;
    const idle = (i: number) => bits.has(i) && !this.has(i) && this.requestCount(i) === 0;
    return Array.from({ length: bits.size }, (_, i) => i).find(idle) ?? super.pick(peerId);
  }
}

/** Broken on purpose: never asks a second peer for an in-flight piece. */
class NoEndgame extends PiecePicker {
  override pick(peerId: string): number | undefined {
    const picked = super.pick(peerId);
    return picked !== undefined && this.requestCount(picked) > 0 ? undefined : picked;
  }
}

describe("PiecePicker", () => {
  test("agrees with the model: eligible, rarest first, no double request outside endgame", () => {
    fc.assert(pickerBehaves(realPicker), { numRuns: FC_RUNS });
  }, 60_000);

  // An overlay (the swarm simulator's stripe trees) names the one peer to ask for each piece.
  test("asked for only what each peer may be asked, agrees with the model restricted to that", () => {
    fc.assert(pickerBehaves(realPicker, true), { numRuns: FC_RUNS });
  }, 60_000);

  test("the restricted model check catches a picker that asks any peer for anything", () => {
    const out = fc.check(
      pickerBehaves((size, rng) => new PiecePicker(size, { rng }), true),
      { numRuns: FC_RUNS },
    );
    expect(out.failed).toBe(true);
  }, 60_000);

  test("finishes despite a slow peer holding the last pieces in flight forever", () => {
    const args = [fc.integer({ min: 1, max: 40 }), fc.nat(), fc.integer({ min: 1, max: 8 })] as const;
    const completes = (size: number, seed: number, pipeline: number) =>
      completesDespiteSlowPeer(realPicker, size, seed, pipeline);
    fc.assert(fc.property(...args, completes), { numRuns: FC_RUNS });
  }, 60_000);

  test("gives the last piece held by a slow peer to another peer and cancels the slow request", () => {
    const picker = new PiecePicker(2, { rng: () => 0 });
    picker.addPeer("slow", bitfieldOf(2, [0, 1]));
    picker.addPeer("fast", bitfieldOf(2, [0, 1]));
    picker.markRequested("slow", 1);
    expect(picker.pick("fast")).toBe(0);
    picker.markRequested("fast", 0);
    expect(picker.markVerified(0, "fast")).toEqual([]);
    expect(picker.pick("slow")).toBeUndefined(); // already asked for piece 1, nothing else left
    expect(picker.pick("fast")).toBe(1);
    picker.markRequested("fast", 1);
    expect(picker.markVerified(1, "fast")).toEqual(["slow"]);
    expect(picker.isComplete()).toBe(true);
  });

  test("breaks ties between equally rare pieces with rng", () => {
    const picks = [0, 0.3, 0.6, 0.99, 1].map((x) => {
      const picker = new PiecePicker(3, { rng: () => x });
      picker.addPeer("a", bitfieldOf(3, [0, 1, 2]));
      return picker.pick("a");
    });
    expect(picks).toEqual([0, 0, 1, 2, 2]);
  });

  test("skips pieces already verified when resuming", () => {
    const picker = new PiecePicker(3, { rng: () => 0, have: bitfieldOf(3, [0, 2]) });
    picker.addPeer("a", bitfieldOf(3, [0, 1, 2]));
    expect(picker.missingCount()).toBe(1);
    expect(picker.pick("a")).toBe(1);
  });

  test("the model check catches a picker that ignores rarity", () => {
    const out = fc.check(
      pickerBehaves((size, rng) => new LowestFirst(size, { rng })),
      { numRuns: FC_RUNS },
    );
    expect(out.failed).toBe(true);
  }, 60_000);

  test("the slow-peer check catches a picker without endgame", () => {
    expect(completesDespiteSlowPeer((size, rng) => new NoEndgame(size, { rng }), 8, 1, 2)).toBe(false);
  });
});
