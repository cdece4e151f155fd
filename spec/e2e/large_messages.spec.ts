// spec/e2e/large_messages.spec.ts: messages larger than the frame limit between the real
// ./tracker processes and clients. A share whose piece hashes (10 MiB: a 256 GiB file) exceed
// MAX_FRAME_BYTES goes to a tracker in parts over a raw authenticated connection, is replicated
// to the other tracker in parts, survives that tracker's restart and comes back whole in the
// file_info a client's TrackerLink gets; the tracker answers others (and the same connection)
// while such a share is under way; a share cut halfway leaves nothing; a declared size over the
// bound is refused at its first part, and a stranger's parts at once. A small real upload_file
// and download_file between two ./client processes still work.
import { afterEach, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { readFile, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { TrackerLink } from "../../lib/client/tracker_link.ts";
import { parseTrackerInfo } from "../../lib/config.ts";
import { TrackerTrust } from "../../lib/identity/tracker_trust.ts";
import { PIECE_BYTES } from "../../lib/pieces/constants.ts";
import { encodeMessage } from "../../lib/wire/codec.ts";
import type { Fields } from "../../lib/wire/fields.ts";
import { MAX_FRAME_BYTES } from "../../lib/wire/limits.ts";
import { PART_BYTES } from "../../lib/wire/parts.ts";
import { CLIENT_MESSAGE_BOUNDS, MAX_PIECES } from "../../lib/wire/tracker_protocol.ts";
import { parseFileInfo } from "../../lib/wire/tracker_replies.ts";
import { type Cluster, makeCluster, settle, startTrackers } from "../helpers/cluster.ts";
import { expectError, expectOut } from "../helpers/expect_output.ts";
import { groupOf, MiB, randomFile, sha1File, tempPath, waitForDownload } from "../helpers/files.ts";
import { TEST_IDENTITY } from "../helpers/identity.ts";
import { makeTempDir, stopAll } from "../helpers/processes.ts";
import { closeRawSockets, RawSocket } from "../helpers/raw_socket.ts";
import { waitUntil } from "../helpers/wait.ts";

const links: TrackerLink[] = [];

afterEach(async () => {
  for (const link of links.splice(0)) link.close();
  closeRawSockets();
  await stopAll();
});

/** Piece hashes over the frame limit: 524,288 pieces, a 256 GiB file (over the old 200 GiB bound). */
const HASH_BYTES = 10 * MiB;

/** A file entry of `hashBytes` of random piece hashes, as `share` carries it. */
function hugeFile(hashBytes = HASH_BYTES): { sizeBytes: number; sha1: Uint8Array; pieces: Uint8Array } {
  const pieces = new Uint8Array(hashBytes);
  for (let at = 0; at < pieces.byteLength; at += 65_536)
    crypto.getRandomValues(pieces.subarray(at, at + 65_536));
  return {
    sizeBytes: (hashBytes / 20) * PIECE_BYTES,
    sha1: crypto.getRandomValues(new Uint8Array(20)),
    pieces,
  };
}

/** Peer addresses of the sessions made here: one each (a login at another's address ends that one). */
let peerPort = 10;

/** A raw TLS connection to tracker `no`, logged in as `user` (created on first use). */
async function rawSession(cluster: Cluster, no: number, user: string): Promise<RawSocket> {
  const raw = await RawSocket.connect({ port: cluster.slots[no - 1]!.port });
  await raw.request({ t: "create_user", user, pass: "pw" }); // "already exists" is fine
  const token = crypto.getRandomValues(new Uint8Array(32));
  const login = await raw.request({ t: "login", user, pass: "pw", peer: `127.0.0.1:${peerPort++}`, token });
  expect(login).toMatchObject({ ok: true });
  return raw;
}

/** The product's client link to tracker `no` only, logged in as `user`. */
async function clientLink(cluster: Cluster, no: number, user: string): Promise<TrackerLink> {
  const trackers = parseTrackerInfo(await readFile(cluster.infoPath, "utf8")).filter((t) => t.no === no);
  const link = new TrackerLink(trackers, () => {}, {
    identity: TEST_IDENTITY,
    trust: new TrackerTrust(await makeTempDir()),
  });
  links.push(link);
  const token = crypto.getRandomValues(new Uint8Array(32));
  const proof = { user, pass: "pw", peer: `127.0.0.1:${peerPort++}` };
  const { reply } = await link.request({ t: "login", ...proof, token, rid: link.newRid() });
  expect(reply).toMatchObject({ ok: true });
  link.setSession(token, proof);
  return link;
}

/** Polls file_info through `link` until it answers ok; its data. */
function fileInfo(link: TrackerLink, group: string, name: string): Promise<Fields> {
  return waitUntil(
    async () => {
      const { reply } = await link.request({ t: "file_info", group, name });
      return reply.ok ? reply.data : undefined;
    },
    { timeoutMs: 15_000, intervalMs: 200, what: `file_info ${group} ${name}` },
  );
}

describe("a share larger than the frame limit", () => {
  test("goes in parts, reaches the other tracker, survives its restart and comes back whole in file_info", async () => {
    const cluster = await makeCluster({ trackers: 2 });
    const [, t2] = await startTrackers(cluster);
    const alicePeer = `127.0.0.1:${peerPort}`;
    const alice = await rawSession(cluster, 1, "alice");
    expect(await alice.request({ t: "create_group", group: "g" })).toMatchObject({ ok: true });
    const file = hugeFile();
    const share = { t: "share", group: "g", name: "huge.iso", ...file, rid: "big-share-1" };
    // Whole, it would be one frame over the limit that every tracker refuses.
    expect(encodeMessage(share).byteLength).toBeGreaterThan(MAX_FRAME_BYTES);
    expect(await alice.requestInParts(share, 15_000)).toMatchObject({ ok: true });

    // Through tracker 2 (the op came by sync, in parts) to the product's client link.
    const link = await clientLink(cluster, 2, "alice");
    const info = parseFileInfo(await fileInfo(link, "g", "huge.iso"));
    expect(info.sizeBytes).toBe(file.sizeBytes);
    expect(info.sha1).toEqual(file.sha1);
    expect(info.pieces.byteLength).toBe(HASH_BYTES);
    expect(Buffer.compare(info.pieces, file.pieces)).toBe(0);
    expect(info.peers).toEqual([alicePeer]);
    await settle(cluster);

    // Tracker 2 reloads it from its own store.
    await t2!.restart();
    const again = parseFileInfo(await fileInfo(link, "g", "huge.iso"));
    expect(Buffer.compare(again.pieces, file.pieces)).toBe(0);
    await settle(cluster);
    for (const t of cluster.trackers.values())
      expect(t.stderr.text()).not.toMatch(/error|closing connection/i);
  }, 60_000);

  test("the tracker answers meanwhile, a share cut halfway leaves nothing, and bounds hold at the first part", async () => {
    const cluster = await makeCluster({ trackers: 2 });
    const [t1] = await startTrackers(cluster);
    const alice = await rawSession(cluster, 1, "alice");
    expect(await alice.request({ t: "create_group", group: "g" })).toMatchObject({ ok: true });
    const witness = await rawSession(cluster, 1, "witness");

    const frames = RawSocket.partFrames({
      t: "share",
      id: alice.nextId(),
      group: "g",
      name: "cut.iso",
      ...hugeFile(),
      rid: "cut-share-1",
    });
    expect(frames.length).toBeGreaterThan(MAX_FRAME_BYTES / PART_BYTES);
    for (const frame of frames.slice(0, frames.length / 2)) alice.write(frame);
    await alice.flushed();
    // Half a share is in: other clients, and this very connection between two parts, are answered.
    expect(await witness.request({ t: "list_groups" }, 2_000)).toMatchObject({
      ok: true,
      data: { count: 1 },
    });
    expect(await alice.request({ t: "whoami" }, 2_000)).toMatchObject({ ok: true, data: { user: "alice" } });
    alice.destroy();

    await settle(cluster);
    for (const no of [1, 2]) {
      const raw = await rawSession(cluster, no, "alice");
      expect(await raw.request({ t: "file_info", group: "g", name: "cut.iso" })).toMatchObject({
        ok: false,
        reason: 'no file "cut.iso" in "g": see list_files g',
      });
      expect(await raw.request({ t: "list_files", group: "g" })).toMatchObject({
        ok: true,
        data: { count: 0 },
      });
    }

    // A declared size over the share bound: refused at the first part, the connection closed.
    const greedy = await rawSession(cluster, 1, "greedy");
    greedy.write(
      encodeMessage({
        t: "msg_part",
        kind: "share",
        total: CLIENT_MESSAGE_BOUNDS.share + 1,
        offset: 0,
        bytes: new Uint8Array(PART_BYTES),
      }),
    );
    expect(await greedy.waitClosed(3_000)).toBe(true);
    // A stranger (not logged in) takes no parts at all, not even small ones.
    const stranger = await RawSocket.connect({ port: cluster.slots[0]!.port });
    stranger.write(
      encodeMessage({ t: "msg_part", kind: "share", total: 10, offset: 0, bytes: new Uint8Array(5) }),
    );
    expect(await stranger.waitClosed(3_000)).toBe(true);
    // The tracker's log lines may come a moment after the sockets closed.
    const logged = (text: string) => t1!.stderr.next((line) => line.includes(text), 3_000);
    expect(
      await logged(
        `A share message of ${CLIENT_MESSAGE_BOUNDS.share + 1} bytes exceeds the limit of ${CLIENT_MESSAGE_BOUNDS.share}`,
      ),
    ).toMatchObject({ found: true });
    expect(await logged("A share message in parts is not taken here")).toMatchObject({ found: true });
    expect(await witness.request({ t: "whoami" })).toMatchObject({ ok: true, data: { user: "witness" } });
  }, 60_000);
});

/** A process's peak and current RSS, MiB. */
function memoryMiB(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (name: string) =>
    Number(status.match(new RegExp(`${name}:\\s+(\\d+) kB`))?.[1] ?? NaN) / 1024;
  return { rss: field("VmRSS"), peak: field("VmHWM") };
}

describe("a client that asks for large replies and does not read them", () => {
  test("costs the tracker one encoded reply, not one per request, and is closed at 64 queued", async () => {
    const cluster = await makeCluster({ trackers: 1 });
    const [t1] = await startTrackers(cluster);
    const alice = await rawSession(cluster, 1, "alice");
    expect(await alice.request({ t: "create_group", group: "g" })).toMatchObject({ ok: true });
    const share = { t: "share", group: "g", name: "huge.iso", ...hugeFile(20 * MiB), rid: "big-share-2" };
    expect(await alice.requestInParts(share, 15_000)).toMatchObject({ ok: true });
    const before = memoryMiB(t1!.proc.pid);

    const reader = await rawSession(cluster, 1, "alice");
    reader.pause(); // never reads a byte of the replies
    const ask = (n: number) => {
      for (let i = 0; i < n; i++)
        reader.send({ t: "file_info", group: "g", name: "huge.iso", id: 1_000 + i });
    };
    // 60 replies of 20 MiB each queued: 1.2 GiB if each were held encoded.
    for (let round = 0; round < 6; round++) {
      ask(10);
      await Bun.sleep(100);
    }
    await Bun.sleep(500);
    const queued = memoryMiB(t1!.proc.pid);
    console.log(
      `tracker RSS with 60 unread 20 MiB replies queued: ${queued.rss.toFixed(0)} MiB (peak ${queued.peak.toFixed(0)}; before: ${before.rss.toFixed(0)}, peak ${before.peak.toFixed(0)})`,
    );
    // One reply encoded and its parts under way: tens of MiB over the peak of the share itself.
    expect(queued.peak - before.peak).toBeLessThan(100);
    expect(reader.closed).toBe(false);
    ask(10); // past MAX_QUEUED_MESSAGES: the reader is too slow
    expect(
      await t1!.stderr.next(
        (line) => line.includes("a reader too slow: 64 large messages queued for it"),
        5_000,
      ),
    ).toMatchObject({ found: true });
    reader.resume();
    expect(await reader.waitClosed(5_000)).toBe(true);
    expect(await alice.request({ t: "whoami" })).toMatchObject({ ok: true, data: { user: "alice" } });
  }, 60_000);
});

describe("small files", () => {
  test("upload_file and download_file between two clients still work end to end", async () => {
    const cluster = await makeCluster({ trackers: 2 });
    await startTrackers(cluster);
    const [alice, bob] = await groupOf(cluster, ["alice", "bob"], {
      clients: [{ order: [1, 2] }, { order: [2, 1] }],
    });
    const path = await randomFile(await tempPath("small.bin"), 3 * MiB + 5);
    await alice!.ok(`upload_file ${path} g`);
    const dest = await makeTempDir();
    await expectOut(bob!, `download_file g small.bin ${dest}`, [
      `downloading small.bin from g to ${join(dest, "small.bin")} (3.0 MiB, 1 peer)`,
    ]);
    await waitForDownload(bob!, "g/small.bin", { timeoutMs: 20_000 });
    expect(await sha1File(join(dest, "small.bin"))).toBe(await sha1File(path));

    // One byte over 1 TiB (a sparse file): refused at once, before any hashing.
    const huge = await tempPath("huge.img");
    await writeFile(huge, "");
    await truncate(huge, MAX_PIECES * PIECE_BYTES + 1);
    await expectError(
      alice!,
      `upload_file ${huge} g`,
      `cannot share ${huge}: 1099511627777 bytes, over the 1.0 TiB (1099511627776 bytes) a tracker takes`,
    );
    expect((await alice!.ok("list_files g")).map((line) => line.split(" ")[0])).toEqual(["small.bin"]);
  }, 60_000);
});
