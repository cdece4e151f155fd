// spec/e2e/hostile_tracker.spec.ts: the compiled ./tracker on 127.0.0.1 against a hostile network
// (SPEC "./tracker": bad input costs that one connection only, memory stays bounded): random
// bytes, oversized and truncated frames, CBOR of the wrong shape, unknown types, floods of unread
// requests, slow senders and idle crowds. After each attack a connection opened before it and a
// fresh one are still served correctly.
import { afterEach, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { nodeIdOf } from "../../lib/config.ts";
import { ProtocolError } from "../../lib/errors.ts";
import { decodeMessage, encodeMessage } from "../../lib/wire/codec.ts";
import { readEnvelope } from "../../lib/wire/fields.ts";
import {
  IDLE_TIMEOUT_S,
  MAX_CONNECTIONS_PER_ADDRESS,
  MAX_FRAME_BYTES,
  MAX_PENDING_REQUESTS,
  MAX_UNAUTHENTICATED_FRAME_BYTES,
} from "../../lib/wire/limits.ts";
import { parseRequest } from "../../lib/wire/tracker_protocol.ts";
import { makeCluster } from "../helpers/cluster.ts";
import { stopAll } from "../helpers/processes.ts";
import { closeRawSockets, RawSocket } from "../helpers/raw_socket.ts";
import { startTracker, type TrackerProcess } from "../helpers/tracker_process.ts";
import { waitUntil } from "../helpers/wait.ts";

/** Runs per property; each run opens a fresh connection (about 5-30 ms). */
const FC_RUNS = Number(process.env.FC_RUNS ?? 100);
/** Per-run budget for a test's timeout. */
const RUN_MS = 60;
/** How long a complete frame may take to get its reply or its close. */
const ANSWER_MS = 3_000;
const MiB = 1024 * 1024;

afterEach(async () => {
  closeRawSockets();
  await stopAll();
});

/** A running tracker, with a logged-in connection opened before any attack. */
interface Target {
  tracker: TrackerProcess;
  port: number;
  /** The node id of each line of its tracker_info.txt (what a sync hello names). */
  nodes: number[];
  /** Logged in as `witness`; must keep working through every attack. */
  witness: RawSocket;
  token: Uint8Array;
}

/** Starts tracker 1 of a cluster of `trackers` (the others stay down), with an optional sync secret. */
async function startTarget(options: { trackers?: number; secret?: string } = {}): Promise<Target> {
  const cluster = await makeCluster({ trackers: options.trackers ?? 1 });
  const tracker = await startTracker(
    cluster,
    1,
    options.secret ? { env: { TRACKER_SECRET: options.secret } } : {},
  );
  const port = cluster.slots[0]!.port;
  const witness = await RawSocket.connect({ port });
  const token = crypto.getRandomValues(new Uint8Array(32));
  // Alone in a file of several, a tracker with nothing stored waits up to 3 s for the others
  // before it takes changes (README, Trackers): retry as the real client does.
  const created = await waitUntil(
    async () => {
      const reply = await witness.request({ t: "create_user", user: "witness", pass: "pw" });
      return String(reply?.reason).includes("is catching up") ? undefined : reply;
    },
    { timeoutMs: 10_000, intervalMs: 250, what: "tracker 1 to take changes" },
  );
  expect(created).toMatchObject({ ok: true });
  expect(
    await witness.request({ t: "login", user: "witness", pass: "pw", peer: "127.0.0.1:9", token }),
  ).toMatchObject({ ok: true });
  return { tracker, port, nodes: cluster.slots.map(nodeIdOf), witness, token };
}

/** Lines of the tracker's stderr that reveal a bug rather than a refused peer: stack traces, internal errors. */
function bugLines(tracker: TrackerProcess): string[] {
  return tracker.stderr.lines.filter((l) =>
    /^\s+at |internal tracker error|error: request|Unhandled|RangeError|TypeError/.test(l),
  );
}

/** The tracker still runs, the witness is still served, a fresh connection gets a correct answer. */
async function expectServing(target: Target): Promise<void> {
  expect(target.tracker.running).toBe(true);
  expect(await target.witness.request({ t: "whoami" }, ANSWER_MS)).toMatchObject({
    t: "reply",
    ok: true,
    data: { user: "witness" },
  });
  const fresh = await RawSocket.connect({ port: target.port });
  expect(await fresh.request({ t: "list_groups" }, ANSWER_MS)).toMatchObject({
    t: "reply",
    ok: false,
    reason: expect.stringContaining("not logged in"),
  });
  expect(await fresh.request({ t: "resume", token: target.token }, ANSWER_MS)).toMatchObject({
    ok: true,
    data: { user: "witness" },
  });
  expect(await fresh.request({ t: "list_groups" }, ANSWER_MS)).toMatchObject({
    ok: true,
    data: { count: expect.any(Number) }, // a listing: its entries come in parts before it
  });
  fresh.destroy();
  expect(bugLines(target.tracker)).toEqual([]);
}

/** VmRSS and VmHWM (peak RSS) of a process, in MiB. */
function memoryMiB(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (name: string) =>
    Math.round(Number(status.match(new RegExp(`${name}:\\s+(\\d+) kB`))?.[1] ?? NaN) / 1024);
  return { rss: field("VmRSS"), peak: field("VmHWM") };
}

function reportMemory(target: Target, attack: string): { rss: number; peak: number } {
  const mem = memoryMiB(target.tracker.proc.pid);
  console.log(`tracker after ${attack}: VmHWM (peak RSS) ${mem.peak} MiB, VmRSS ${mem.rss} MiB`);
  return mem;
}

/** A frame header claiming `length` body bytes. */
function header(length: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, length);
  return bytes;
}

/** What the tracker must do with one complete frame on a fresh connection, by its own parsers. */
function expectedOutcome(body: Uint8Array): "reply" | "close" {
  try {
    const value = decodeMessage(body);
    const { t } = readEnvelope(value);
    if (t.startsWith("sync_")) return "close"; // a one-tracker cluster knows no other tracker
    parseRequest(value);
    return "reply";
  } catch (err) {
    if (err instanceof ProtocolError) return "close";
    throw err;
  }
}

/** Sends one frame body on a fresh connection; returns what came back within ANSWER_MS. */
async function sendOne(
  port: number,
  body: Uint8Array,
): Promise<{ outcome: "reply" | "close" | "nothing"; frames: unknown[] }> {
  const raw = await RawSocket.connect({ port });
  raw.write(Uint8Array.from([...header(body.byteLength), ...body]));
  const frame = await raw.next(undefined, ANSWER_MS);
  const outcome = frame?.t === "reply" ? "reply" : (await raw.waitClosed(ANSWER_MS)) ? "close" : "nothing";
  raw.destroy();
  return { outcome, frames: frame ? [frame, ...raw.frames] : [] };
}

const bytes = (n: number) => new Uint8Array(n).fill(7);
/** One well-formed request of every type (not logged in, so most are refused, but answered). */
const WELL_FORMED: Record<string, Record<string, unknown>> = {
  create_user: { user: "fuzz", pass: "pw" },
  login: { user: "nobody", pass: "pw", peer: "127.0.0.1:9", token: bytes(32) },
  resume: { token: bytes(32) },
  heartbeat: {},
  logout: {},
  whoami: {},
  create_group: { group: "g" },
  join_group: { group: "g" },
  leave_group: { group: "g" },
  list_requests: { group: "g" },
  list_files: { group: "g" },
  accept_request: { group: "g", user: "u" },
  reject_request: { group: "g", user: "u" },
  list_groups: {},
  share: { group: "g", name: "f", sizeBytes: 1, sha1: bytes(20), pieces: bytes(20) },
  unshare: { group: "g", name: "f" },
  file_info: { group: "g", name: "f" },
  check_peer: { group: "g", peer: "127.0.0.1:9", nonce: bytes(16), proof: bytes(32) },
};
const REQUEST_TYPES = Object.keys(WELL_FORMED);
const FIELD_NAMES = [
  "id",
  "rid",
  "t",
  "user",
  "pass",
  "peer",
  "token",
  "group",
  "name",
  "sizeBytes",
  "sha1",
  "pieces",
  "nonce",
  "proof",
];

/** Any CBOR-encodable value, weird ones included (bigints, typed arrays, maps, sets, dates, -0, NaN). */
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

/** Values that are right for some field and wrong for most. */
const plausible = fc.oneof(
  fc.nat({ max: 2 ** 32 + 5 }),
  fc.constantFrom(
    -1,
    0.5,
    2 ** 53,
    Number.MAX_SAFE_INTEGER + 2,
    "",
    "g",
    "alice",
    "127.0.0.1:9",
    "999.0.0.1:70000",
    "a b",
    "..",
    "a/b",
    "\u0000",
    "x".repeat(256),
    "p".repeat(1025),
  ),
  fc.uint8Array({ minLength: 0, maxLength: 40 }),
  fc.string({ maxLength: 12 }),
  fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
);

/** A well-formed request with 0..3 fields dropped, replaced or added: some stay valid, most do not. */
const requestShaped = fc
  .record({
    t: fc.constantFrom(...REQUEST_TYPES),
    id: fc.nat({ max: 2 ** 32 - 1 }),
    edits: fc.array(
      fc.record({
        key: fc.constantFrom(...FIELD_NAMES),
        drop: fc.boolean(),
        value: fc.oneof({ weight: 3, arbitrary: plausible }, { weight: 1, arbitrary: anyValue }),
      }),
      { maxLength: 3 },
    ),
  })
  .map(({ t, id, edits }) => {
    const request: Record<string, unknown> = { t, id, ...WELL_FORMED[t] };
    for (const edit of edits) {
      if (edit.drop) delete request[edit.key];
      else request[edit.key] = edit.value;
    }
    return request;
  });

const stamp = { wall: 0, count: 0, node: 2 };
/** One well-formed tracker-to-tracker message of every type. */
const SYNC_WELL_FORMED: Record<string, Record<string, unknown>> = {
  sync_hello: { node: 2, nonce: bytes(32) },
  sync_challenge: { nonce: bytes(32), mac: bytes(32) },
  sync_prove: { mac: bytes(32) },
  sync_welcome: {},
  sync_ops: { ops: [] },
  sync_status: { status: { node: 2, vv: [[2, 0]], clock: stamp, frontier: stamp } },
  sync_base_part: { stamp, totalBytes: 4, offset: 0, bytes: bytes(4) },
  sync_live: { sessions: ["ab"] },
};
const SYNC_FIELD_NAMES = [
  "t",
  "node",
  "nonce",
  "mac",
  "ops",
  "status",
  "partial",
  "stamp",
  "totalBytes",
  "offset",
  "bytes",
  "sessions",
];
/** A well-formed sync message with 0..3 fields dropped, replaced or added. */
const syncShaped = fc
  .record({
    t: fc.constantFrom(...Object.keys(SYNC_WELL_FORMED)),
    edits: fc.array(
      fc.record({
        key: fc.constantFrom(...SYNC_FIELD_NAMES),
        drop: fc.boolean(),
        value: fc.oneof({ weight: 3, arbitrary: plausible }, { weight: 1, arbitrary: anyValue }),
      }),
      { maxLength: 3 },
    ),
  })
  .map(({ t, edits }) => {
    const message: Record<string, unknown> = { t, ...SYNC_WELL_FORMED[t] };
    for (const edit of edits) {
      if (edit.drop) delete message[edit.key];
      else message[edit.key] = edit.value;
    }
    return message;
  });

/** Encodes a value as a frame body, or undefined when cbor-x cannot encode it. */
function tryEncode(value: unknown): Uint8Array | undefined {
  try {
    return encodeMessage(value).subarray(4);
  } catch {
    return undefined;
  }
}

describe("the tracker under hostile input", () => {
  test(
    "survives random bytes on fresh connections and keeps serving a connection opened before",
    async () => {
      const target = await startTarget();
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(
            fc.uint8Array({ minLength: 1, maxLength: 4096 }),
            // a plausible small length prefix in front, so the bytes reach the CBOR decoder
            fc
              .uint8Array({ minLength: 1, maxLength: 512 })
              .map((b) => Uint8Array.from([...header(b.byteLength), ...b])),
          ),
          async (bytes) => {
            const raw = await RawSocket.connect({ port: target.port });
            raw.write(bytes);
            await raw.flushed();
            const heartbeat = await target.witness.request({ t: "heartbeat" }, ANSWER_MS);
            raw.destroy();
            expect(heartbeat).toMatchObject({ t: "reply", ok: true });
          },
        ),
        { numRuns: FC_RUNS, endOnFailure: true },
      );
      await expectServing(target);
      reportMemory(target, "random bytes");
    },
    10_000 + FC_RUNS * RUN_MS,
  );

  test(
    "closes a connection that has not logged in as soon as its length prefix exceeds MAX_UNAUTHENTICATED_FRAME_BYTES, up to 4 GiB",
    async () => {
      const target = await startTarget();
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(
            fc.integer({ min: MAX_UNAUTHENTICATED_FRAME_BYTES + 1, max: 2 ** 32 - 1 }),
            fc.constantFrom(MAX_UNAUTHENTICATED_FRAME_BYTES + 1, 2 ** 31, 2 ** 32 - 1),
            fc.integer({ min: 1, max: MAX_UNAUTHENTICATED_FRAME_BYTES }),
            fc.constantFrom(1, MAX_UNAUTHENTICATED_FRAME_BYTES),
          ),
          fc.integer({ min: 1, max: 4 }),
          async (length, headerChunks) => {
            const raw = await RawSocket.connect({ port: target.port });
            const bytes = header(length);
            // the 4 header bytes in 1..4 writes: the check must not depend on how they arrive
            for (let i = 0; i < headerChunks; i++) {
              raw.write(
                bytes.subarray(Math.floor((i * 4) / headerChunks), Math.floor(((i + 1) * 4) / headerChunks)),
              );
              await Bun.sleep(1);
            }
            if (length > MAX_UNAUTHENTICATED_FRAME_BYTES) {
              expect(await raw.waitClosed(ANSWER_MS)).toBe(true); // no body byte was sent
            } else {
              raw.write(new Uint8Array(Math.min(length - 1, 1024))); // an incomplete body: the tracker waits
              expect(await target.witness.request({ t: "heartbeat" }, ANSWER_MS)).toMatchObject({ ok: true });
              expect(await raw.waitClosed(20)).toBe(false);
            }
            expect(raw.frames).toEqual([]);
            raw.destroy();
          },
        ),
        { numRuns: FC_RUNS, endOnFailure: true },
      );
      await expectServing(target);
      reportMemory(target, "length prefixes up to 4 GiB");
    },
    10_000 + FC_RUNS * RUN_MS,
  );

  test(
    "answers a request split at any points, and forgets one truncated by a hang-up",
    async () => {
      const target = await startTarget();
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom<{ t: string } & Record<string, unknown>>(
            { t: "list_groups" },
            { t: "whoami", rid: "r".repeat(64) },
            { t: "create_group", group: "g".repeat(255) },
            { t: "list_files", group: "nope" },
          ),
          fc.uniqueArray(fc.nat(), { maxLength: 6 }),
          fc.boolean(),
          async (request, cutSeeds, truncate) => {
            const raw = await RawSocket.connect({ port: target.port });
            const resumed = await raw.request({ t: "resume", token: target.token }, ANSWER_MS);
            expect(resumed).toMatchObject({ ok: true });
            const frame = encodeMessage({ ...request, id: 42 });
            const cuts = [...new Set(cutSeeds.map((s) => 1 + (s % (frame.byteLength - 1))))].sort(
              (a, b) => a - b,
            );
            const bounds = [0, ...cuts, frame.byteLength];
            const pieces = bounds.slice(1).map((end, i) => frame.subarray(bounds[i]!, end));
            if (truncate) {
              if (cuts.length === 0) return;
              raw.write(frame.subarray(0, cuts[cuts.length - 1]!));
              await raw.flushed();
              raw.end(); // the tracker is left with a partial frame and a hang-up
              expect(await raw.next((f) => f.id === 42, 50)).toBeUndefined();
            } else {
              for (const piece of pieces) {
                raw.write(piece);
                await Bun.sleep(0);
              }
              // A listing's entries come as `part` frames ahead of its reply.
              const reply = await raw.next((f) => f.id === 42 && f.t === "reply", ANSWER_MS);
              expect(reply).toMatchObject({ t: "reply", id: 42 });
              expect(typeof reply!.ok).toBe("boolean");
            }
            raw.destroy();
          },
        ),
        { numRuns: FC_RUNS, endOnFailure: true },
      );
      await expectServing(target);
      reportMemory(target, "split and truncated frames");
    },
    10_000 + FC_RUNS * RUN_MS,
  );

  test(
    "answers a well-formed request and hangs up on CBOR of the wrong shape, never neither",
    async () => {
      const target = await startTarget();
      const seen = { reply: 0, close: 0 };
      await fc.assert(
        fc.asyncProperty(
          fc.oneof({ weight: 3, arbitrary: requestShaped }, { weight: 1, arbitrary: anyValue }),
          async (value) => {
            const body = tryEncode(value);
            fc.pre(body !== undefined);
            const expected = expectedOutcome(body!);
            const { outcome, frames } = await sendOne(target.port, body!);
            expect({ outcome, frames: outcome === "close" ? frames : [] }).toEqual({
              outcome: expected,
              frames: [],
            });
            seen[expected]++;
          },
        ),
        { numRuns: FC_RUNS, endOnFailure: true },
      );
      console.log(
        `wrong-shape CBOR: ${seen.reply} well-formed requests answered, ${seen.close} malformed ones closed`,
      );
      await expectServing(target);
      reportMemory(target, "wrong-shape CBOR");
    },
    10_000 + FC_RUNS * RUN_MS * 2,
  );

  test(
    "hangs up on an unknown message type without answering",
    async () => {
      const target = await startTarget();
      const known = new Set(REQUEST_TYPES);
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(
            fc.string({ maxLength: 30 }),
            fc.string({ unit: "binary", maxLength: 8 }),
            fc.constantFrom(
              "reply",
              "p_hello",
              "p_request",
              "LOGIN",
              "login ",
              "__proto__",
              "constructor",
              "toString",
              "sync",
              "x".repeat(5000),
            ),
          ),
          fc.nat(),
          async (t, id) => {
            fc.pre(!known.has(t) && !t.startsWith("sync_"));
            const { outcome, frames } = await sendOne(target.port, tryEncode({ t, id })!);
            expect({ t, outcome, frames }).toEqual({ t, outcome: "close", frames: [] });
          },
        ),
        { numRuns: FC_RUNS, endOnFailure: true },
      );
      await expectServing(target);
      reportMemory(target, "unknown message types");
    },
    10_000 + FC_RUNS * RUN_MS,
  );

  test(
    "never welcomes a connection claiming to be another tracker without the sync secret",
    async () => {
      // Tracker 2 is listed but down; anyone on its host may claim to be it, and must prove the secret.
      const target = await startTarget({ trackers: 2, secret: "s3cret" });
      await fc.assert(
        fc.asyncProperty(
          fc.oneof({ weight: 4, arbitrary: syncShaped }, { weight: 1, arbitrary: anyValue }),
          async (value) => {
            const body = tryEncode(value);
            fc.pre(body !== undefined);
            const raw = await RawSocket.connect({ port: target.port });
            raw.send({ t: "sync_hello", node: target.nodes[1]!, nonce: bytes(32) });
            expect(await raw.next(undefined, ANSWER_MS)).toMatchObject({ t: "sync_challenge" });
            raw.write(Uint8Array.from([...header(body!.byteLength), ...body!]));
            expect(await raw.waitClosed(ANSWER_MS)).toBe(true);
            expect(raw.frames).toEqual([]); // no sync_welcome, no state
          },
        ),
        { numRuns: FC_RUNS, endOnFailure: true },
      );
      await expectServing(target);
      reportMemory(target, "impostor trackers");
    },
    10_000 + FC_RUNS * RUN_MS,
  );

  // Crafted bodies cbor-x might mishandle: each must close the connection, and nothing else.
  const crafted: [string, Uint8Array][] = [
    ["10,000 nested arrays", new Uint8Array(10_000).fill(0x81)],
    ["an array claiming 2^32-1 items", Uint8Array.of(0x9a, 0xff, 0xff, 0xff, 0xff, 0x00)],
    [
      "a string claiming 2^64-1 bytes",
      Uint8Array.of(0x7b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x61),
    ],
    ["a map claiming 2^32-1 entries", Uint8Array.of(0xba, 0xff, 0xff, 0xff, 0xff, 0x61, 0x74)],
    [
      "an unterminated indefinite map",
      Uint8Array.of(0xbf, 0x61, 0x74, 0x69, ...new TextEncoder().encode("heartbeat")),
    ],
    [
      "a record definition tag",
      Uint8Array.of(
        0xd9,
        0xdf,
        0xff,
        0x83,
        0x19,
        0xe0,
        0x00,
        0x81,
        0x61,
        0x74,
        0x69,
        ...new TextEncoder().encode("heartbeat"),
      ),
    ],
    ["a bigint request id", encodeMessage({ t: "heartbeat", id: 2n ** 64n - 1n }).subarray(4)],
    [
      "a __proto__ key carrying the type",
      encodeMessage(JSON.parse('{"__proto__":{"t":"list_groups","id":1}}')).subarray(4),
    ],
    [
      "a valid request followed by trailing bytes",
      Uint8Array.from([...encodeMessage({ t: "heartbeat", id: 1 }).subarray(4), 0x00]),
    ],
    ["a lone break byte", Uint8Array.of(0xff)],
    ["reserved additional info 28", Uint8Array.of(0x1c)],
  ];
  test("hangs up on crafted CBOR: deep nesting, huge declared lengths, tags, bigints, trailing bytes", async () => {
    const target = await startTarget();
    for (const [what, body] of crafted) {
      const { outcome, frames } = await sendOne(target.port, body);
      expect({ what, outcome, frames }).toEqual({ what, outcome: expectedOutcome(body), frames: [] });
    }
    await expectServing(target);
    reportMemory(target, "crafted CBOR");
  }, 20_000);

  test("bounds a client that sends thousands of requests without reading the replies", async () => {
    const target = await startTarget();
    // Two hundred groups with long names make each list_groups reply about 55 KiB.
    for (let i = 0; i < 200; i++) {
      const reply = await target.witness.request({ t: "create_group", group: `g${i}-${"x".repeat(240)}` });
      expect(reply).toMatchObject({ ok: true });
    }
    const flooders = await Promise.all(
      Array.from({ length: 4 }, () => RawSocket.connect({ port: target.port })),
    );
    for (const f of flooders) {
      expect(await f.request({ t: "resume", token: target.token })).toMatchObject({ ok: true });
      f.pause(); // never reads another byte
    }
    const frame = encodeMessage({ t: "list_groups", id: 7 });
    const burst = new Uint8Array(frame.byteLength * 5_000);
    for (let i = 0; i < 5_000; i++) burst.set(frame, i * frame.byteLength);
    flooders[0]!.write(burst); // 5,000 requests in one write: more than MAX_PENDING_REQUESTS in flight
    // The others pipeline below MAX_PENDING_REQUESTS per write, so only the outbox cap can stop them.
    const started = Date.now();
    const latencies: number[] = [];
    while (Date.now() - started < 3_000) {
      for (const f of flooders.slice(1)) for (let i = 0; i < MAX_PENDING_REQUESTS / 2; i++) f.write(frame);
      const t0 = performance.now();
      expect(await target.witness.request({ t: "heartbeat" }, ANSWER_MS)).toMatchObject({ ok: true });
      latencies.push(performance.now() - t0);
      await Bun.sleep(10);
    }
    console.log(
      `witness heartbeat during the flood: max ${Math.max(...latencies).toFixed(1)} ms over ${latencies.length} requests`,
    );
    expect(Math.max(...latencies)).toBeLessThan(1_000);
    // Reading again: requests beyond MAX_PENDING_REQUESTS in flight were answered with a clear
    // error at once, and the listings that waited for their reader (a listing is sent as fast as
    // it is read, never queued whole) complete, or the connection was hung up on for its backlog.
    for (const f of flooders) f.resume();
    const refused = await flooders[0]!.next(
      (m) => m.ok === false && String(m.reason).includes("requests in flight"),
      10_000,
    );
    expect(refused?.reason).toBe(
      `more than ${MAX_PENDING_REQUESTS} requests in flight on one connection: wait for replies`,
    );
    for (const f of flooders.slice(1)) {
      const listed = await f.next((m) => m.t === "reply" && m.ok === true, 10_000);
      expect(listed === undefined ? await f.waitClosed(10_000) : listed.data).toEqual(
        listed === undefined ? true : { count: 200 },
      );
    }
    await expectServing(target);
    const mem = reportMemory(target, "thousands of unread requests");
    // Each flooder may cost up to MAX_QUEUED_BYTES of outbox; 4 of them must not cost more.
    expect(mem.peak).toBeLessThan(100 + (4 * 32 * MiB) / MiB + 64);
  }, 30_000);

  test("keeps serving with a thousand idle connections open", async () => {
    const target = await startTarget();
    const before = memoryMiB(target.tracker.proc.pid);
    const idle: RawSocket[] = [];
    for (let batch = 0; batch < 10; batch++) {
      idle.push(
        ...(await Promise.all(Array.from({ length: 100 }, () => RawSocket.connect({ port: target.port })))),
      );
    }
    const t0 = performance.now();
    await expectServing(target);
    console.log(`served with 1,000 idle connections open in ${(performance.now() - t0).toFixed(1)} ms`);
    expect(idle.filter((s) => s.closed)).toEqual([]);
    const mem = reportMemory(target, "a thousand idle connections");
    expect(mem.rss - before.rss).toBeLessThan(100); // about 100 KiB per idle connection at most
    for (const s of idle) s.destroy();
    await Bun.sleep(100);
    await expectServing(target);
  }, 30_000);

  test("holds a bounded total for many connections that each send most of a maximal frame", async () => {
    // Each connection alone stays under MAX_FRAME_BYTES; SPEC says the tracker's memory stays
    // bounded, so their sum must not grow with the number of connections either.
    const target = await startTarget();
    const connections = 64;
    const before = memoryMiB(target.tracker.proc.pid);
    const partial = new Uint8Array(4 + MAX_FRAME_BYTES - 1);
    partial.set(header(MAX_FRAME_BYTES));
    const hogs = await Promise.all(
      Array.from({ length: connections }, () => RawSocket.connect({ port: target.port })),
    );
    for (const h of hogs) h.write(partial);
    await Promise.all(hogs.map((h) => h.flushed()));
    await expectServing(target);
    const mem = reportMemory(
      target,
      `${connections} connections holding ${MAX_FRAME_BYTES / MiB} MiB partial frames`,
    );
    console.log(
      `  ${hogs.filter((h) => h.closed).length} of them closed; RSS grew ${mem.rss - before.rss} MiB for ${(connections * MAX_FRAME_BYTES) / MiB} MiB sent`,
    );
    expect(mem.peak - before.rss).toBeLessThan(256);
  }, 30_000);

  test(
    `closes a silent connection and a one-byte-per-second sender after ${IDLE_TIMEOUT_S} s, serving everyone meanwhile`,
    async () => {
      const target = await startTarget();
      const silent = await RawSocket.connect({ port: target.port });
      const slow = await RawSocket.connect({ port: target.port });
      // Longer than the timeout in seconds, so it never completes at one byte per second.
      const frame = encodeMessage({ t: "list_groups", id: 1, rid: "r".repeat(60) });
      const started = Date.now();
      const closedAfterS: Record<string, number> = {};
      void silent.done.then(() => (closedAfterS.silent = (Date.now() - started) / 1_000));
      void slow.done.then(() => (closedAfterS.slow = (Date.now() - started) / 1_000));
      const latencies: number[] = [];
      for (
        let i = 0;
        (!silent.closed || !slow.closed) && Date.now() - started < (IDLE_TIMEOUT_S + 6) * 1_000;
        i++
      ) {
        const tick = Date.now();
        if (!slow.closed) slow.write(frame.subarray(i, i + 1));
        const t0 = performance.now();
        expect(await target.witness.request({ t: "heartbeat" }, ANSWER_MS)).toMatchObject({ ok: true });
        const fresh = await RawSocket.connect({ port: target.port });
        expect(await fresh.request({ t: "whoami" }, ANSWER_MS)).toMatchObject({ ok: false });
        fresh.destroy();
        latencies.push(performance.now() - t0);
        await Bun.sleep(Math.max(0, 1_000 - (Date.now() - tick)));
      }
      console.log(
        `closed after (s): ${JSON.stringify(closedAfterS)}; others served in at most ${Math.max(...latencies).toFixed(1)} ms`,
      );
      expect(Math.max(...latencies)).toBeLessThan(500);
      expect(slow.frames).toEqual([]);
      expect(closedAfterS.silent).toBeGreaterThanOrEqual(IDLE_TIMEOUT_S - 1);
      expect(closedAfterS.slow).toBeGreaterThanOrEqual(IDLE_TIMEOUT_S - 1);
      // Bun checks socket timeouts every few seconds, so "after 30 s" means 30 to 34 s.
      expect(closedAfterS.silent).toBeLessThan(IDLE_TIMEOUT_S + 6);
      expect(closedAfterS.slow).toBeLessThan(IDLE_TIMEOUT_S + 6);
      await expectServing(target);
      reportMemory(target, "a slow sender and a silent connection");
    },
    (IDLE_TIMEOUT_S + 20) * 1_000,
  );
});

describe("per-address connection limit", () => {
  test("turns away connections beyond MAX_CONNECTIONS_PER_ADDRESS from one address with a clear error", async () => {
    const target = await startTarget();
    const open: RawSocket[] = [];
    while (open.length < MAX_CONNECTIONS_PER_ADDRESS)
      open.push(await RawSocket.connect({ port: target.port }));
    const extra = await RawSocket.connect({ port: target.port });
    const turnedAway = await extra.next(() => true, 5_000);
    expect(turnedAway).toMatchObject({
      t: "reply",
      id: 0,
      ok: false,
      reason: `too many connections from 127.0.0.1 (${MAX_CONNECTIONS_PER_ADDRESS}): close some and retry`,
    });
    expect(await extra.waitClosed(5_000)).toBe(true);
    for (const s of open.splice(0, 10)) s.destroy();
    await Bun.sleep(100);
    const again = await RawSocket.connect({ port: target.port });
    expect(await again.waitClosed(300)).toBe(false); // a freed slot is usable again
    for (const s of open) s.destroy();
    again.destroy();
  }, 30_000);
});
