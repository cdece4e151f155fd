// spec/e2e/hostile_peer.spec.ts: the peer server of a compiled ./client on 127.0.0.1 against a
// hostile network: random bytes, oversized frames, CBOR of the wrong shape, pieces out of range,
// floods of unread requests and of hellos, slow senders and idle crowds. The downloader side is
// spoken here: a raw tracker session with a token of our own (so we know its session id) joins
// the group, then proves itself to the seeder with peerProof. After each attack a peer admitted
// before it and a freshly admitted one still get correct pieces.
import { afterEach, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import fc from "fast-check";
import { ProtocolError } from "../../lib/errors.ts";
import { peerProof, sessionId } from "../../lib/peer/auth.ts";
import { DEFAULT_SEND_SLOTS } from "../../lib/peer/send_slots.ts";
import { PIECE_BYTES } from "../../lib/pieces/constants.ts";
import { decodeMessage, encodeMessage } from "../../lib/wire/codec.ts";
import { MAX_FRAME_BYTES } from "../../lib/wire/limits.ts";
import {
  MAX_PIECE_INDEX,
  type PeerMessage,
  PIECE_PART_BYTES,
  parsePeerMessage,
} from "../../lib/wire/peer_protocol.ts";
import { type ClientProcess, startClient } from "../helpers/client_process.ts";
import { makeCluster, startTrackers } from "../helpers/cluster.ts";
import { randomFile, tempPath } from "../helpers/files.ts";
import { stopAll } from "../helpers/processes.ts";
import { closeRawSockets, RawSocket } from "../helpers/raw_socket.ts";
import type { TrackerProcess } from "../helpers/tracker_process.ts";

/** Runs per property; each run opens a fresh connection (and most get admitted: a tracker check). */
const FC_RUNS = Number(process.env.FC_RUNS ?? 100);
const RUN_MS = 80;
const ANSWER_MS = 2_000;
/** The shared file: two whole pieces and a short last one. */
const PIECES = 3;
const FILE_BYTES = 2 * PIECE_BYTES + 1_000;
const FILE_NAME = "shared.bin";
/** The peer address mallory logs in with (nothing listens there; she only downloads). */
const MALLORY_PEER = "127.0.0.1:9";

afterEach(async () => {
  closeRawSockets();
  await stopAll();
});

/** Alice seeds FILE_NAME in group g; mallory is a member whose session id we know. */
interface Target {
  tracker: TrackerProcess;
  alice: ClientProcess;
  alicePort: number;
  content: Uint8Array;
  /** Mallory's session id: what her proofs are keyed with. */
  session: string;
  /** A connection admitted before any attack; must keep getting pieces. */
  witness: RawSocket;
}

async function startTarget(): Promise<Target> {
  const cluster = await makeCluster({ trackers: 1 });
  const [tracker] = await startTrackers(cluster);
  const alice = await startClient(cluster);
  await alice.ok("create_user alice pw");
  await alice.ok("login alice pw");
  await alice.ok("create_group g");
  const path = await randomFile(await tempPath(FILE_NAME), FILE_BYTES);
  await alice.ok(`upload_file ${path} g`);
  const mallory = await RawSocket.connect({ port: cluster.slots[0]!.port });
  const token = crypto.getRandomValues(new Uint8Array(32));
  expect(await mallory.request({ t: "create_user", user: "mallory", pass: "pw" })).toMatchObject({
    ok: true,
  });
  expect(
    await mallory.request({ t: "login", user: "mallory", pass: "pw", peer: MALLORY_PEER, token }),
  ).toMatchObject({ ok: true });
  expect(await mallory.request({ t: "join_group", group: "g" })).toMatchObject({ ok: true });
  await alice.ok("accept_request g mallory");
  const partial = {
    tracker: tracker!,
    alice,
    alicePort: Number(alice.peer.split(":")[1]),
    content: new Uint8Array(await readFile(path)),
    session: sessionId(token),
  };
  const witness = await admitted(partial);
  return { ...partial, witness };
}

/** Connects to alice's peer server and waits for its challenge. */
async function challenged(target: Pick<Target, "alicePort">): Promise<{ raw: RawSocket; nonce: Uint8Array }> {
  const raw = await RawSocket.connect({ port: target.alicePort });
  const challenge = await raw.next(undefined, ANSWER_MS);
  expect(challenge).toMatchObject({ t: "p_challenge" });
  return { raw, nonce: challenge!.nonce as Uint8Array }; // cast: p_challenge carries its nonce as bytes
}

/** A connection to alice's peer server on which mallory has proved herself and got the bitfield. */
async function admitted(target: Pick<Target, "alicePort" | "alice" | "session">): Promise<RawSocket> {
  return (await admittedShown(target)).raw;
}

/** `admitted`, with the pieces alice's bitfield showed on it. */
async function admittedShown(
  target: Pick<Target, "alicePort" | "alice" | "session">,
): Promise<{ raw: RawSocket; shown: number[] }> {
  const { raw, nonce } = await challenged(target);
  raw.send({
    t: "p_hello",
    group: "g",
    name: FILE_NAME,
    peer: MALLORY_PEER,
    proof: peerProof(target.session, target.alice.peer, { nonce, binding: raw.server!.binding }),
  });
  // Alice shared the file herself: until each piece has left once she super-seeds, showing
  // each downloader at most two pieces not sent yet (none while the others' offers are fresh;
  // a request for any other piece is served all the same); then every piece to everyone.
  const bitfield = await raw.next(undefined, ANSWER_MS);
  expect(bitfield?.t).toBe("p_bitfield");
  const bits = bitfield!.bits as Uint8Array; // cast: a p_bitfield carries its bits as bytes
  expect(bits.byteLength).toBe(1);
  const shown = [0, 1, 2].filter((i) => (bits[0]! & (0x80 >> i)) !== 0);
  if (bitfield!.superSeed === true) expect(shown.length).toBeLessThanOrEqual(2);
  else expect(bits).toEqual(Uint8Array.of(0b1110_0000));
  return { raw, shown };
}

/** The bytes of piece `index` of the shared file. */
function pieceOf(target: Target, index: number): Uint8Array {
  return target.content.subarray(index * PIECE_BYTES, Math.min((index + 1) * PIECE_BYTES, FILE_BYTES));
}

/**
 * Requests piece `index` on `raw` and expects its exact bytes, in order; says it arrived, as a
 * downloader does. Returns the offsets of the parts it came in.
 */
async function expectPiece(target: Target, raw: RawSocket, index: number): Promise<number[]> {
  raw.send({ t: "p_request", index });
  const want = pieceOf(target, index);
  const got: Uint8Array[] = [];
  const offsets: number[] = [];
  let received = 0;
  while (received < want.byteLength) {
    const part = await raw.next((f) => f.t === "p_part" && f.index === index, ANSWER_MS);
    expect(part?.offset).toBe(received);
    offsets.push(received);
    const data = part!.data as Uint8Array; // cast: a p_part carries its bytes as bytes
    got.push(data);
    received += data.byteLength;
  }
  raw.send({ t: "p_got", index }); // frees its send slot (lib/peer/send_slots.ts)
  expect(Buffer.compare(Buffer.concat(got), want)).toBe(0);
  return offsets;
}

/** Lines of alice's stderr that reveal a bug rather than a refused peer: stack traces, uncaught errors. */
function bugLines(alice: ClientProcess): string[] {
  return alice.stderr.lines.filter((l) => /^\s+at |Unhandled|RangeError|TypeError|^\d+ \| /.test(l));
}

/** Connections the tracker closed (alice's tracker link is the only one that should ever be open long). */
function trackerHangUps(tracker: TrackerProcess): string[] {
  return tracker.stderr.lines.filter((l) => l.includes("closing connection"));
}

/** Alice runs, serves the witness and a freshly admitted peer, and her tracker link was never cut. */
async function expectServing(target: Target): Promise<void> {
  expect(target.alice.running).toBe(true);
  await expectPiece(target, target.witness, 0);
  const fresh = await admitted(target);
  await expectPiece(target, fresh, PIECES - 1);
  fresh.destroy();
  expect(await target.alice.ok("list_files g")).toEqual([`${FILE_NAME} size=${FILE_BYTES} seeders=1`]);
  expect(bugLines(target.alice)).toEqual([]);
  expect(trackerHangUps(target.tracker)).toEqual([]);
}

/** VmRSS and VmHWM (peak RSS) of a process, in MiB. */
function memoryMiB(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (name: string) =>
    Math.round(Number(status.match(new RegExp(`${name}:\\s+(\\d+) kB`))?.[1] ?? NaN) / 1024);
  return { rss: field("VmRSS"), peak: field("VmHWM") };
}

function reportMemory(target: Target, attack: string): { rss: number; peak: number } {
  const alice = memoryMiB(target.alice.proc.pid);
  const tracker = memoryMiB(target.tracker.proc.pid);
  console.log(
    `after ${attack}: client VmHWM ${alice.peak} MiB (VmRSS ${alice.rss}), tracker VmHWM ${tracker.peak} MiB (VmRSS ${tracker.rss})`,
  );
  return alice;
}

function header(length: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, length);
  return bytes;
}

const bytes = (n: number) => new Uint8Array(n).fill(7);
/** One well-formed peer message of every type. */
const WELL_FORMED: Record<string, Record<string, unknown>> = {
  p_challenge: { nonce: bytes(32) },
  p_hello: { group: "g", name: FILE_NAME, peer: MALLORY_PEER, proof: bytes(32) },
  p_refuse: { reason: "no" },
  p_bitfield: { bits: Uint8Array.of(0xe0) },
  p_have: { index: 1 },
  p_request: { index: 1, missing: 3, arriving: 1 },
  p_arriving: { count: 2 },
  p_cancel: { index: 1 },
  p_got: { index: 1 },
  p_part: { index: 1, offset: 0, data: bytes(16) },
  p_soon: { index: 1 },
  p_reject: { index: 1 },
  p_busy: { index: 1 },
  p_resume: {},
  p_decline: {},
  p_have_all: {},
};
const FIELD_NAMES = [
  "t",
  "nonce",
  "group",
  "name",
  "peer",
  "proof",
  "reason",
  "bits",
  "index",
  "missing",
  "arriving",
  "count",
  "offset",
  "data",
];
const anyValue = fc.anything({
  maxDepth: 2,
  maxKeys: 4,
  withBigInt: true,
  withTypedArray: true,
  withDate: true,
  withMap: true,
  withSet: true,
  withNullPrototype: true,
});
const plausible = fc.oneof(
  fc.integer({ min: -2, max: PIECES + 1 }),
  fc.constantFrom(
    0.5,
    MAX_PIECE_INDEX - 1,
    MAX_PIECE_INDEX,
    2 ** 32,
    "",
    "g",
    FILE_NAME,
    "../etc/passwd",
    "x".repeat(256),
    "zzz",
    "1",
    "unknown",
  ),
  fc.uint8Array({ minLength: 0, maxLength: 70 }),
  fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
);
/** A well-formed peer message with 0..3 fields dropped, replaced or added. */
const peerShaped = fc
  .record({
    t: fc.constantFrom(...Object.keys(WELL_FORMED)),
    edits: fc.array(
      fc.record({
        key: fc.constantFrom(...FIELD_NAMES),
        drop: fc.boolean(),
        value: fc.oneof({ weight: 3, arbitrary: plausible }, { weight: 1, arbitrary: anyValue }),
      }),
      { maxLength: 3 },
    ),
  })
  .map(({ t, edits }) => {
    const message: Record<string, unknown> = { t, ...WELL_FORMED[t] };
    for (const edit of edits) {
      if (edit.drop) delete message[edit.key];
      else message[edit.key] = edit.value;
    }
    return message;
  });

type Outcome = "close" | "refuse" | "piece" | "silence";

/** What alice must do with one message from a peer, admitted or not, by the product's own parser. */
function expectedOutcome(body: Uint8Array, isAdmitted: boolean): Outcome | "skip" {
  let msg: PeerMessage;
  try {
    msg = parsePeerMessage(decodeMessage(body));
  } catch (err) {
    if (err instanceof ProtocolError) return "close";
    throw err;
  }
  if (!isAdmitted) return msg.t === "p_hello" ? "refuse" : "close"; // our proofs here are never valid
  if (msg.t === "p_request") return msg.index < PIECES ? "piece" : "skip"; // out of range: its own test
  // A cancel, a got or an arriving figure is answered by nothing; a decline by new offers at most
  // (p_have, not counted here).
  if (msg.t === "p_cancel" || msg.t === "p_got" || msg.t === "p_decline" || msg.t === "p_arriving")
    return "silence";
  return "close";
}

describe("the peer server under hostile input", () => {
  test(
    "survives random bytes before and after admission, and keeps serving a peer admitted before",
    async () => {
      const target = await startTarget();
      await fc.assert(
        fc.asyncProperty(
          fc.boolean(),
          fc.oneof(
            fc.uint8Array({ minLength: 1, maxLength: 4096 }),
            fc
              .uint8Array({ minLength: 1, maxLength: 512 })
              .map((b) => Uint8Array.from([...header(b.byteLength), ...b])),
          ),
          async (isAdmitted, garbage) => {
            const raw = isAdmitted ? await admitted(target) : (await challenged(target)).raw;
            raw.write(garbage);
            await raw.flushed();
            await expectPiece(target, target.witness, PIECES - 1);
            raw.destroy();
          },
        ),
        { numRuns: FC_RUNS, endOnFailure: true },
      );
      await expectServing(target);
      reportMemory(target, "random bytes");
    },
    15_000 + FC_RUNS * RUN_MS,
  );

  test(
    "closes a connection as soon as its length prefix exceeds MAX_FRAME_BYTES, up to 4 GiB",
    async () => {
      const target = await startTarget();
      await fc.assert(
        fc.asyncProperty(
          fc.boolean(),
          fc.oneof(
            fc.integer({ min: MAX_FRAME_BYTES + 1, max: 2 ** 32 - 1 }),
            fc.constantFrom(MAX_FRAME_BYTES + 1, 2 ** 31, 2 ** 32 - 1),
          ),
          async (isAdmitted, length) => {
            const raw = isAdmitted ? await admitted(target) : (await challenged(target)).raw;
            raw.write(header(length));
            expect(await raw.waitClosed(ANSWER_MS)).toBe(true);
            expect(raw.frames).toEqual([]);
            raw.destroy();
          },
        ),
        { numRuns: FC_RUNS, endOnFailure: true },
      );
      await expectServing(target);
      reportMemory(target, "length prefixes up to 4 GiB");
    },
    15_000 + FC_RUNS * RUN_MS,
  );

  test(
    "answers, ignores or hangs up on CBOR of the wrong shape exactly as the protocol says",
    async () => {
      const target = await startTarget();
      const seen: Record<string, number> = {};
      await fc.assert(
        fc.asyncProperty(
          fc.boolean(),
          fc.oneof({ weight: 4, arbitrary: peerShaped }, { weight: 1, arbitrary: anyValue }),
          async (isAdmitted, value) => {
            let body: Uint8Array;
            try {
              body = encodeMessage(value).subarray(4);
            } catch {
              return fc.pre(false);
            }
            const expected = expectedOutcome(body, isAdmitted);
            fc.pre(expected !== "skip");
            const raw = isAdmitted ? await admitted(target) : (await challenged(target)).raw;
            raw.write(Uint8Array.from([...header(body.byteLength), ...body]));
            let outcome: Outcome;
            // The super-seeding seeder may show new pieces before anything else: one at a time
            // (p_have), or all at once when every piece has left it once (p_have_all).
            const frame = await raw.next(
              (f) => f.t !== "p_have" && f.t !== "p_have_all",
              expected === "silence" ? 50 : ANSWER_MS,
            );
            if (frame?.t === "p_refuse") outcome = "refuse";
            else if (frame?.t === "p_part") outcome = "piece";
            else if (frame) outcome = `unexpected ${frame.t}` as Outcome;
            else
              outcome = (await raw.waitClosed(expected === "silence" ? 50 : ANSWER_MS)) ? "close" : "silence";
            expect({ isAdmitted, value, outcome }).toEqual({ isAdmitted, value, outcome: expected });
            seen[outcome] = (seen[outcome] ?? 0) + 1;
            raw.destroy();
          },
        ),
        { numRuns: FC_RUNS, endOnFailure: true },
      );
      console.log(`wrong-shape CBOR outcomes: ${JSON.stringify(seen)}`);
      await expectServing(target);
      reportMemory(target, "wrong-shape CBOR and unknown types");
    },
    15_000 + FC_RUNS * RUN_MS * 2,
  );

  test(
    "answers a request for a piece out of the file's range with p_reject (or a hang-up), never silence",
    async () => {
      const target = await startTarget();
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(
            fc.integer({ min: 0, max: MAX_PIECE_INDEX - 1 }),
            fc.constantFrom(PIECES, PIECES + 1, 8, 255, 256, 65_536, MAX_PIECE_INDEX - 1),
          ),
          async (index) => {
            const raw = await admitted(target);
            raw.send({ t: "p_request", index });
            const answer = await raw.next((f) => f.t !== "p_have" && f.index === index, ANSWER_MS);
            const outcome = answer?.t ?? ((await raw.waitClosed(10)) ? "close" : "silence");
            expect({ index, outcome }).toEqual({
              index,
              outcome: index < PIECES ? "p_part" : expect.stringMatching(/^(p_reject|close)$/),
            });
            raw.destroy();
          },
        ),
        { numRuns: FC_RUNS, endOnFailure: true },
      );
      await expectServing(target);
      reportMemory(target, "out-of-range piece requests");
    },
    15_000 + FC_RUNS * RUN_MS,
  );

  test("sends a piece in 64 KiB parts, and whole to a downloader whose last piece reached it within 50 ms", async () => {
    const target = await startTarget();
    const raw = await admitted(target);
    // Nothing measured yet: parts its downloader could pass on while the rest arrives.
    expect(await expectPiece(target, raw, 0)).toEqual(
      Array.from({ length: 8 }, (_, k) => k * PIECE_PART_BYTES),
    );
    // Its p_got came a few ms after it went out (loopback): passing it on early gains nothing here.
    expect(await expectPiece(target, raw, 1)).toEqual([0]);
    raw.destroy();
    await expectServing(target);
  });

  test("keeps a connection's third piece until its downloader says one of the first two arrived", async () => {
    const target = await startTarget();
    const raw = await admitted(target);
    for (let index = 0; index < PIECES; index++) raw.send({ t: "p_request", index });
    const piece = (f: Record<string, unknown>) => f.t === "p_part" && f.offset === 0; // a piece begins
    const first = await raw.next(piece, ANSWER_MS);
    const second = await raw.next(piece, ANSWER_MS);
    expect([first?.t, second?.t]).toEqual(["p_part", "p_part"]);
    expect(await raw.next(piece, 500)).toBeUndefined(); // two on the wire: the third waits
    raw.send({ t: "p_got", index: first?.index });
    const third = await raw.next(piece, ANSWER_MS);
    expect(new Set([first?.index, second?.index, third?.index]).size).toBe(PIECES);
    raw.destroy();
    await expectServing(target);
  });

  test("with every send slot taken, serves first the downloader that says the fewest pieces are arriving at it", async () => {
    const target = await startTarget();
    // Six connections take the six slots, a piece each, and never say it arrived.
    const blockers = await Promise.all(
      Array.from({ length: DEFAULT_SEND_SLOTS.connections }, () => admitted(target)),
    );
    const begins = (index: number) => (f: Record<string, unknown>) =>
      f.t === "p_part" && f.index === index && f.offset === 0;
    for (const [k, b] of blockers.entries()) {
      b.send({ t: "p_request", index: k % PIECES });
      expect(await b.next(begins(k % PIECES), ANSWER_MS)).toBeDefined();
    }
    const [a, b] = [await admitted(target), await admitted(target)];
    // Without the figures a would go first (furthest behind); four pieces are arriving at it.
    a.send({ t: "p_request", index: 2, missing: 100, arriving: 4 });
    b.send({ t: "p_request", index: 2, missing: 1, arriving: 0 });
    expect(await a.next(begins(2), 300)).toBeUndefined(); // queued: every slot is taken
    blockers[0]!.send({ t: "p_got", index: 0 });
    expect(await b.next(begins(2), ANSWER_MS)).toBeDefined();
    expect(await a.next(begins(2), 300)).toBeUndefined();
    blockers[1]!.send({ t: "p_got", index: 1 });
    expect(await a.next(begins(2), ANSWER_MS)).toBeDefined();
    // Two more: by their requests c goes first (d says five are arriving), by the figures they
    // tell afterwards d does.
    const [c, d] = [await admitted(target), await admitted(target)];
    d.send({ t: "p_request", index: 0, missing: 100, arriving: 5 });
    c.send({ t: "p_request", index: 0, missing: 1 });
    d.send({ t: "p_arriving", count: 0 });
    c.send({ t: "p_arriving", count: 3 });
    expect(await c.next(begins(0), 300)).toBeUndefined();
    blockers[2]!.send({ t: "p_got", index: 2 });
    expect(await d.next(begins(0), ANSWER_MS)).toBeDefined();
    expect(await c.next(begins(0), 300)).toBeUndefined();
    for (const raw of [...blockers, a, b, c, d]) raw.destroy();
    await expectServing(target);
  });

  test("offers pieces in file order from the first, so that each downloader's whole-file check keeps pace", async () => {
    const target = await startTarget(); // the witness, alice's first downloader, was shown two pieces
    const a = await admittedShown(target);
    expect(a.shown).toEqual([2]); // after the witness's 0 and 1
    a.raw.destroy();
    await expectServing(target);
  });

  test("a downloader holding offers and leaving without asking hands them to one that was shown nothing", async () => {
    const target = await startTarget();
    // Alice super-seeds her 3 pieces: the witness was offered two, a is offered the third, b
    // nothing (and says it wants none of what it was shown).
    const a = await admitted(target);
    const b = await admitted(target);
    b.send({ t: "p_decline" });
    const have = (f: Record<string, unknown>) => f.t === "p_have";
    expect(await b.next(have, 300)).toBeUndefined();
    target.witness.destroy(); // nothing was sent: without the hand-over b would wait forever
    const shown = [await b.next(have, ANSWER_MS), await b.next(have, ANSWER_MS)].map((f) => f?.index);
    expect(new Set(shown).size).toBe(2);
    for (const index of shown) await expectPiece(target, b, index as number);
    for (const raw of [a, b]) raw.destroy();
    target.witness = await admitted(target);
    await expectServing(target);
  });

  test("offers held by downloaders that neither ask nor leave are shown to another after 8 s", async () => {
    const target = await startTarget();
    const a = await admitted(target); // the witness holds two offers, a the third; neither asks
    const b = await admitted(target);
    b.send({ t: "p_decline" });
    const have = (f: Record<string, unknown>) => f.t === "p_have";
    const startedMs = Date.now();
    const first = await b.next(have, 12_000);
    const waitedMs = Date.now() - startedMs;
    console.log(`b was shown piece ${first?.index} after ${waitedMs} ms`);
    expect(first).toBeDefined();
    expect(waitedMs).toBeGreaterThan(5_000); // offers are not shared while fresh
    await expectPiece(target, b, first!.index as number);
    for (const raw of [a, b]) raw.destroy();
    await expectServing(target);
  }, 30_000);

  test("bounds a peer that sends thousands of piece requests without reading", async () => {
    const target = await startTarget();
    const flooders = await Promise.all(Array.from({ length: 4 }, () => admitted(target)));
    for (const f of flooders) f.pause(); // never reads a piece
    const request = encodeMessage({ t: "p_request", index: 0 });
    const burst = new Uint8Array(request.byteLength * 5_000);
    for (let i = 0; i < 5_000; i++) burst.set(request, i * request.byteLength);
    flooders[0]!.write(burst); // 5,000 requests in one write
    const started = Date.now();
    const latencies: number[] = [];
    while (Date.now() - started < 2_000) {
      for (const f of flooders.slice(1)) for (let i = 0; i < 16; i++) f.write(request); // a few at a time
      const t0 = performance.now();
      await expectPiece(target, target.witness, PIECES - 1);
      latencies.push(performance.now() - t0);
      await Bun.sleep(10);
    }
    console.log(
      `witness piece during the flood: max ${Math.max(...latencies).toFixed(1)} ms over ${latencies.length} requests`,
    );
    expect(Math.max(...latencies)).toBeLessThan(1_000);
    for (const f of flooders) f.resume();
    for (const f of flooders) expect(await f.waitClosed(10_000)).toBe(true);
    await expectServing(target);
    const mem = reportMemory(target, "thousands of unread piece requests");
    expect(mem.peak).toBeLessThan(400);
  }, 30_000);

  test("serves others while a peer sends one byte per second, and keeps a silent one open meanwhile", async () => {
    const target = await startTarget();
    const slow = (await challenged(target)).raw;
    const silent = (await challenged(target)).raw;
    const hello = encodeMessage({
      t: "p_hello",
      group: "g",
      name: FILE_NAME,
      peer: MALLORY_PEER,
      proof: bytes(32),
    });
    const latencies: number[] = [];
    for (let i = 0; i < 5; i++) {
      const tick = Date.now();
      slow.write(hello.subarray(i, i + 1));
      const t0 = performance.now();
      await expectPiece(target, target.witness, i % PIECES);
      const fresh = await admitted(target);
      await expectPiece(target, fresh, PIECES - 1);
      fresh.destroy();
      latencies.push(performance.now() - t0);
      await Bun.sleep(Math.max(0, 1_000 - (Date.now() - tick)));
    }
    console.log(
      `others served in at most ${Math.max(...latencies).toFixed(1)} ms while a peer sent 1 byte/s`,
    );
    expect(Math.max(...latencies)).toBeLessThan(500);
    // Within the idle timeout, neither is closed early, nor answered.
    expect([slow.closed, silent.closed, slow.frames, silent.frames]).toEqual([false, false, [], []]);
    await expectServing(target);
    reportMemory(target, "a slow sender and a silent connection");
  }, 30_000);

  test("keeps serving with a thousand idle connections open", async () => {
    const target = await startTarget();
    const idle: RawSocket[] = [];
    for (let batch = 0; batch < 10; batch++) {
      idle.push(
        ...(await Promise.all(
          Array.from({ length: 100 }, () => RawSocket.connect({ port: target.alicePort })),
        )),
      );
    }
    const challenges = await Promise.all(idle.map((s) => s.next(undefined, 5_000)));
    expect(challenges.filter((c) => c?.t !== "p_challenge").length).toBe(0);
    const t0 = performance.now();
    await expectServing(target);
    console.log(`served with 1,000 idle connections open in ${(performance.now() - t0).toFixed(1)} ms`);
    expect(idle.filter((s) => s.closed).length).toBe(0);
    reportMemory(target, "a thousand idle connections");
    for (const s of idle) s.destroy();
    await Bun.sleep(100);
    await expectServing(target);
  }, 30_000);

  test("a flood of hellos from strangers costs the seeder's own tracker link nothing", async () => {
    // Every p_hello makes the seeder ask its tracker (check_peer) before answering.
    const target = await startTarget();
    const strangers = await Promise.all(Array.from({ length: 1_000 }, () => challenged(target)));
    for (const { raw } of strangers)
      raw.send({ t: "p_hello", group: "g", name: FILE_NAME, peer: MALLORY_PEER, proof: bytes(32) });
    const answers = await Promise.all(strangers.map(({ raw }) => raw.next(undefined, 25_000)));
    expect(answers.filter((a) => a?.t !== "p_refuse").length).toBe(0);
    const cuts = trackerHangUps(target.tracker);
    console.log(`the tracker hung up on the seeder's link ${cuts.length} times: ${cuts[0] ?? ""}`);
    expect(cuts).toEqual([]);
    await expectServing(target);
    reportMemory(target, "1,000 hellos with bad proofs");
  }, 40_000);

  test("hellos naming 500 files not shared here make the seeder withdraw at most one listing a second", async () => {
    // Refusing a file it does not serve, a client withdraws a listing of it that may be stale
    // (Files.notServed): a stranger naming many files must not turn that into a request flood.
    const target = await startTarget();
    const began = performance.now();
    const strangers = await Promise.all(Array.from({ length: 500 }, () => challenged(target)));
    for (const [i, { raw }] of strangers.entries())
      raw.send({ t: "p_hello", group: "g", name: `ghost-${i}.bin`, peer: MALLORY_PEER, proof: bytes(32) });
    const answers = await Promise.all(strangers.map(({ raw }) => raw.next(undefined, 25_000)));
    expect(
      answers.every((a) => a?.t === "p_refuse" && String(a.reason).endsWith('is not shared here in "g"')),
    ).toBe(true);
    const seconds = (performance.now() - began) / 1000;
    const heals = target.alice.stderr.lines.filter((l) => l.includes("but this client does not serve it"));
    console.log(
      `500 hellos for files not shared here in ${seconds.toFixed(1)} s: ${heals.length} withdrawals`,
    );
    expect(heals.length).toBeGreaterThanOrEqual(1); // the first is withdrawn
    expect(heals.length).toBeLessThanOrEqual(Math.ceil(seconds) + 1);
    await expectServing(target);
  }, 40_000);
});
