// spec/e2e/forwarding.spec.ts: a compiled ./client passes a piece on while it arrives
// (lib/peer/arriving.ts). Sam, a raw seeder, sends bob each piece but its last part until told;
// mallory, a raw downloader, asks bob for that piece meanwhile: she gets every part bob has but
// the last, which comes only once bob's copy is whole and checked. When bob's copy fails its
// check, mallory's piece starts over from the copy bob gets next, and what she ends with is the
// piece. Bob's download completes and is the file; no p_have follows a piece's p_soon. A seeder
// holding requests of bob's not yet begun hears how many pieces are arriving at him (it serves
// those receiving the fewest first).
import { afterEach, describe, expect, test } from "bun:test";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { PIECE_BYTES } from "../../lib/pieces/constants.ts";
import type { PeerMessage } from "../../lib/wire/peer_protocol.ts";
import { PIECE_PART_BYTES } from "../../lib/wire/peer_protocol.ts";
import {
  memberSeeder,
  openDownloader,
  type RawDownloader,
  stopBadPeers,
  TrackerSession,
} from "../helpers/bad_peer.ts";
import { makeCluster, startTrackers } from "../helpers/cluster.ts";
import {
  completedFigures,
  groupOf,
  randomFile,
  sha1File,
  tempPath,
  waitForDownload,
} from "../helpers/files.ts";
import { makeTempDir, stopAll } from "../helpers/processes.ts";
import { waitUntil } from "../helpers/wait.ts";

afterEach(async () => {
  await stopBadPeers();
  await stopAll();
});

const PIECES = 4;
const ANSWER_MS = 5_000;
/** Parts of a whole piece, and of all but its last part. */
const PARTS = PIECE_BYTES / PIECE_PART_BYTES;

type Part = Extract<PeerMessage, { t: "p_part" }>;
const isPart = (index: number) => (m: PeerMessage) => m.t === "p_part" && m.index === index;

/** Takes the parts of piece `index` that come within `quietMs` of each other, in order. */
async function partsOf(link: RawDownloader, index: number, quietMs: number): Promise<Part[]> {
  const parts: Part[] = [];
  for (;;) {
    const m = await link.next(isPart(index), parts.length === 0 ? ANSWER_MS : quietMs);
    if (!m) return parts;
    parts.push(m as Part);
  }
}

/**
 * Bob, a real client, and the members `others`, spoken by hand (their clients closed), in group
 * g; a random file of `pieces` pieces called `name`; a directory for bob to download into.
 */
async function bobAmongRawPeers(others: string[], name: string, pieces: number) {
  const cluster = await makeCluster({ trackers: 1 });
  await startTrackers(cluster);
  const [bob, ...raw] = await groupOf(cluster, ["bob", ...others]);
  for (const client of raw) await client.close();
  const path = await randomFile(await tempPath(name), pieces * PIECE_BYTES);
  return { cluster, bob: bob!, path, dest: await makeTempDir() };
}

describe("forwarding a piece while it arrives", () => {
  test("the last part waits for the forwarder's checked copy; a failed copy starts the piece over", async () => {
    const { cluster, bob, path, dest } = await bobAmongRawPeers(["sam", "mallory"], "fwd.bin", PIECES);
    const content = new Uint8Array(await readFile(path));
    const pieceOf = (i: number) => content.subarray(i * PIECE_BYTES, (i + 1) * PIECE_BYTES);
    const seeder = await memberSeeder(cluster, "sam", path, { withhold: true });
    await bob.ok(`download_file g fwd.bin ${dest}`);
    await waitUntil(() => seeder.stats.withheld !== undefined, { what: "bob to ask sam for a piece" });
    const first = seeder.stats.withheld!;

    const session = await TrackerSession.connect(cluster.slots[0]!);
    await session.login("mallory", "pw-mallory", "127.0.0.1:9");
    const link = await openDownloader({
      seeder: bob.peer,
      session: session.sessionId,
      selfPeer: "127.0.0.1:9",
      group: "g",
      name: "fwd.bin",
    });
    expect(link.first.t).toBe("p_bitfield");
    // Bob offers the piece he is receiving, and sends all of it he has but the last part.
    expect(await link.next((m) => m.t === "p_soon" && m.index === first, ANSWER_MS)).toBeDefined();
    link.send({ t: "p_request", index: first });
    const early = await partsOf(link, first, 500);
    expect(early.map((p) => p.offset)).toEqual(
      Array.from({ length: PARTS - 1 }, (_, k) => k * PIECE_PART_BYTES),
    );
    seeder.release();
    const rest = await partsOf(link, first, 500);
    expect(rest.map((p) => p.offset)).toEqual([(PARTS - 1) * PIECE_PART_BYTES]);
    expect(Buffer.concat([...early, ...rest].map((p) => p.data))).toEqual(Buffer.from(pieceOf(first)));
    link.send({ t: "p_got", index: first });

    // The next piece: bob's copy fails its check, so what mallory got of it is not the piece.
    await waitUntil(() => seeder.stats.withheld !== undefined, { what: "bob to ask sam for another piece" });
    const bad = seeder.stats.withheld!;
    expect(await link.next((m) => m.t === "p_soon" && m.index === bad, ANSWER_MS)).toBeDefined();
    link.send({ t: "p_request", index: bad });
    expect((await partsOf(link, bad, 500)).length).toBe(PARTS - 1);
    seeder.release({ corrupt: true });
    // Bob asks sam for it again (after whatever else he asked for): mallory's piece starts over.
    for (;;) {
      await waitUntil(() => seeder.stats.withheld !== undefined, { what: "sam to send bob a piece" });
      if (seeder.stats.withheld === bad) break;
      seeder.release();
    }
    const again = await partsOf(link, bad, 500);
    expect(again.map((p) => p.offset)).toEqual(
      Array.from({ length: PARTS - 1 }, (_, k) => k * PIECE_PART_BYTES),
    );
    seeder.release();
    const last = await partsOf(link, bad, 500);
    expect(Buffer.concat([...again, ...last].map((p) => p.data))).toEqual(Buffer.from(pieceOf(bad)));
    link.send({ t: "p_got", index: bad });

    const done = waitForDownload(bob, "g/fwd.bin", { timeoutMs: 30_000 });
    const releasing = setInterval(() => {
      if (seeder.stats.withheld !== undefined) seeder.release();
    }, 20);
    try {
      const line = await done;
      expect(completedFigures(line)).toMatchObject({ bad: 1 });
    } finally {
      clearInterval(releasing);
    }
    expect(await sha1File(join(dest, "fwd.bin"))).toBe(await sha1File(path));
    // Offered with p_soon, a piece is as good as held to mallory: no p_have follows it.
    for (const index of [first, bad])
      expect(await link.next((m) => m.t === "p_have" && m.index === index, 300)).toBeUndefined();
  }, 60_000);

  test("a seeder holding requests not yet begun is told how many pieces are arriving", async () => {
    const { cluster, bob, path } = await bobAmongRawPeers(["sam", "carl"], "told.bin", 16);
    const sam = await memberSeeder(cluster, "sam", path, { withhold: true });
    const carl = await memberSeeder(cluster, "carl", path, { stall: true }); // keeps every request
    await bob.ok(`download_file g told.bin ${await makeTempDir()}`);
    await waitUntil(() => sam.stats.withheld !== undefined && carl.stats.requests > 0, {
      what: "bob to ask both seeders",
    });
    // All of sam's piece but its last part is at bob: one piece arriving. Carl hears it in a
    // p_arriving, or in his requests if bob dialled him after sam's parts began.
    await waitUntil(() => carl.stats.told === 1, { what: "carl to hear of one piece arriving" });
    const before = carl.stats.arriving.length;
    sam.release(); // whole: none arriving; then sam's next piece begins
    await waitUntil(() => carl.stats.arriving.length >= before + 2, { what: "carl to hear of the change" });
    expect(carl.stats.arriving.slice(before, before + 2)).toEqual([0, 1]);
    // Told only on a change: nothing more while sam's next piece waits for its last part.
    await Bun.sleep(300);
    expect(carl.stats.arriving.length).toBe(before + 2);
  }, 30_000);

  test("a seeder whose parts do not follow on is hung up on; the download completes from another", async () => {
    const { cluster, bob, path, dest } = await bobAmongRawPeers(["sam", "carl"], "gap.bin", 16);
    const gappy = await memberSeeder(cluster, "sam", path, { skipPart: true });
    await bob.ok(`download_file g gap.bin ${dest}`);
    await waitUntil(
      () =>
        bob.stderr.lines.some(
          (l) => l.includes(`closing connection ${gappy.peer}`) && l.includes("goes on at"),
        ),
      { what: "bob to hang up on the seeder whose parts skip, saying why" },
    );
    await memberSeeder(cluster, "carl", path);
    const line = await waitForDownload(bob, "g/gap.bin", { timeoutMs: 30_000 });
    expect(line.startsWith("[C]")).toBe(true);
    expect(await sha1File(join(dest, "gap.bin"))).toBe(await sha1File(path));
  }, 60_000);
});
