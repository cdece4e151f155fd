// spec/e2e/file_sharing.spec.ts: the compiled ./tracker and ./client as real processes on
// 127.0.0.1 sharing files: upload_file and list_files, byte-identical downloads from one and
// several seeders, download_file refusals and destinations, membership checks at the tracker
// and at the seeder, downloaders serving what they have, stop_share, logout and re-sharing.
import { afterEach, describe, expect, test } from "bun:test";
import { mkdir, readdir, readFile, rm, utimes, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { messageOf } from "../../lib/errors.ts";
import { helloSeeder, stopBadPeers, TrackerSession } from "../helpers/bad_peer.ts";
import { type ClientProcess, startClient } from "../helpers/client_process.ts";
import { type Cluster, makeCluster, settle, startTrackers } from "../helpers/cluster.ts";
import { expectError, expectOut } from "../helpers/expect_output.ts";
import {
  completedFigures,
  copyOf,
  downloadLine,
  groupOf,
  MiB,
  randomFile,
  sha1File,
  tempPath,
  waitForDownload,
  waitForPercent,
} from "../helpers/files.ts";
import { makeTempDir, stopAll } from "../helpers/processes.ts";
import { freePort, waitUntil } from "../helpers/wait.ts";

afterEach(async () => {
  await stopBadPeers();
  await stopAll();
});

/** Polls `list_files` through `client` until it prints exactly `expected` (liveness and sync take a moment). */
async function waitForFiles(
  client: ClientProcess,
  group: string,
  expected: string[],
  timeoutMs = 10_000,
): Promise<void> {
  let last: string[] = [];
  try {
    await waitUntil(
      async () => {
        last = (await client.ok(`list_files ${group}`)).sort();
        return last.join("\n") === [...expected].sort().join("\n");
      },
      { timeoutMs, intervalMs: 100, what: `list_files ${group} to show ${JSON.stringify(expected)}` },
    );
  } catch (err) {
    throw new Error(`${messageOf(err)}; last: ${JSON.stringify(last)}`);
  }
}

const sharingLine = (name: string, size: string, pieces: number, sha1: string) =>
  `sharing ${name} in g (${size}, ${pieces} pieces, sha1 ${sha1})`;

describe("upload_file and list_files", () => {
  test("lists an uploaded file with its size and live seeders, through either tracker", async () => {
    const cluster = await makeCluster({ trackers: 2 });
    await startTrackers(cluster);
    // alice works through tracker 1, bob and carol through tracker 2.
    const [alice, bob, carol] = await groupOf(cluster, ["alice", "bob", "carol"], {
      clients: [{ order: [1, 2] }, { order: [2, 1] }, { order: [2, 1] }],
    });

    const dir = await makeTempDir();
    const path = await randomFile(join(dir, "notes.bin"), MiB + 1234); // 3 pieces, the last one short
    const sha1 = await sha1File(path);
    await expectOut(alice!, "list_files g", []);
    await expectOut(alice!, `upload_file ${path} g`, [sharingLine("notes.bin", "1.0 MiB", 3, sha1)]);
    await expectOut(alice!, "list_files g", [`notes.bin size=${MiB + 1234} seeders=1`]);
    await waitForFiles(carol!, "g", [`notes.bin size=${MiB + 1234} seeders=1`]); // via tracker 2
    await expectOut(alice!, "list_groups", ["g owner=alice members=3 files=1"]);

    // The same name with the same content from another member (and tracker) adds a seeder.
    await expectOut(carol!, `upload_file ${await copyOf(path)} g`, [
      sharingLine("notes.bin", "1.0 MiB", 3, sha1),
    ]);
    await waitForFiles(alice!, "g", [`notes.bin size=${MiB + 1234} seeders=2`]);
    await waitForFiles(carol!, "g", [`notes.bin size=${MiB + 1234} seeders=2`]);

    // The same name with other content is refused, and nothing changes.
    const other = await randomFile(await tempPath("notes.bin"), MiB + 1234);
    await expectError(
      bob!,
      `upload_file ${other} g`,
      '"notes.bin" is already shared in "g" with different content: rename your file',
    );
    const shorter = await randomFile(await tempPath("notes.bin"), 10);
    await expectError(
      alice!,
      `upload_file ${shorter} g`,
      '"notes.bin" is already shared in "g" with different content: rename your file',
    );
    await expectOut(alice!, "list_files g", [`notes.bin size=${MiB + 1234} seeders=2`]);

    // A second file, an empty one, and bad uploads.
    const empty = join(dir, "empty.txt");
    await writeFile(empty, "");
    await expectOut(bob!, `upload_file ${empty} g`, [
      sharingLine("empty.txt", "0 B", 0, "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
    ]);
    await waitForFiles(alice!, "g", [`notes.bin size=${MiB + 1234} seeders=2`, "empty.txt size=0 seeders=1"]);
    await expectError(
      alice!,
      `upload_file ${join(dir, "missing.bin")} g`,
      `no file ${join(dir, "missing.bin")}: check the path`,
    );
    await expectError(alice!, `upload_file ${dir} g`, `${dir} is a directory: upload_file shares one file`);
    await expectError(alice!, `upload_file ${path} nogroup`, 'no group "nogroup": see list_groups');
    await expectError(alice!, "list_files nogroup", 'no group "nogroup": see list_groups');

    // The empty file downloads too.
    const dest = await makeTempDir();
    await expectOut(alice!, `download_file g empty.txt ${dest}`, [
      `downloading empty.txt from g to ${join(dest, "empty.txt")} (0 B, 1 peer)`,
    ]);
    await waitForDownload(alice!, "g/empty.txt", { timeoutMs: 10_000 });
    expect(await readFile(join(dest, "empty.txt"), "utf8")).toBe("");
  }, 30_000);

  test("refuses uploads and listings from a non-member and from a client that is not logged in", async () => {
    const cluster = await makeCluster({ trackers: 1 });
    await startTrackers(cluster);
    const [alice] = await groupOf(cluster, ["alice"]);
    const [dan] = await groupOf(cluster, ["dan"], { group: "h" });
    const guest = await startClient(cluster);
    const dir = await makeTempDir();
    const path = await randomFile(join(dir, "a.bin"), 1000);
    await alice!.ok(`upload_file ${path} g`);
    const notMember = 'you are not a member of "g": run join_group g and ask its owner to accept';
    await expectError(dan!, `upload_file ${path} g`, notMember);
    await expectError(dan!, "list_files g", notMember);
    await dan!.ok("join_group g"); // pending is not a member
    await expectError(dan!, "list_files g", notMember);
    await expectError(dan!, `download_file g a.bin ${await makeTempDir()}`, notMember);
    for (const line of [
      "list_files g",
      `upload_file ${path} g`,
      `download_file g a.bin ${dir}`,
      "show_downloads",
      "stop_share g a.bin",
    ]) {
      await expectError(guest, line, "not logged in: run login <user_id> <passwd>");
    }
    await expectOut(alice!, "list_files g", ["a.bin size=1000 seeders=1"]);
  }, 30_000);
});

describe("download_file", () => {
  test("downloads a 20 MiB random file from one seeder byte for byte into a directory", async () => {
    const cluster = await makeCluster({ trackers: 2 });
    await startTrackers(cluster);
    // Seeder on tracker 1, downloader on tracker 2: the seeder's tracker checks a proof from a
    // session it knows only through sync.
    const [alice, bob] = await groupOf(cluster, ["alice", "bob"], {
      clients: [{ order: [1, 2] }, { order: [2, 1] }],
    });
    const path = await randomFile(await tempPath("movie.bin"), 20 * MiB);
    await alice!.ok(`upload_file ${path} g`);
    const dest = await makeTempDir();
    await expectOut(bob!, `download_file g movie.bin ${dest}`, [
      `downloading movie.bin from g to ${join(dest, "movie.bin")} (20.0 MiB, 1 peer)`,
    ]);
    const line = await waitForDownload(bob!, "g/movie.bin", { timeoutMs: 30_000 });
    expect(line).toMatch(
      new RegExp(
        `^\\[C\\] \\[g\\] movie\\.bin -> ${join(dest, "movie.bin")} \\(20\\.0 MiB in [\\d.]+ s, 0 pieces resumed, 0 fetched twice, 0 failed their check\\)$`,
      ),
    );
    expect(await sha1File(join(dest, "movie.bin"))).toBe(await sha1File(path));
    expect(await readdir(dest)).toEqual(["movie.bin"]); // no temporary file left behind
    // A finished downloader is a seeder (through either tracker, once sync and liveness gossip arrive).
    await waitForFiles(alice!, "g", ["movie.bin size=20971520 seeders=2"]);
    await expectOut(bob!, "list_files g", ["movie.bin size=20971520 seeders=2"]);
  }, 30_000);

  test("downloads a 50 MiB file byte for byte from one seeder and from three", async () => {
    const cluster = await makeCluster({ trackers: 2 });
    await startTrackers(cluster);
    const [alice, bob, carol, dave, erin] = await groupOf(
      cluster,
      ["alice", "bob", "carol", "dave", "erin"],
      {
        clients: [
          { order: [1, 2] },
          { order: [2, 1] },
          { order: [1, 2] },
          { order: [2, 1] },
          { order: [2, 1] },
        ],
      },
    );
    const path = await randomFile(await tempPath("big.bin"), 50 * MiB);
    const sha1 = await sha1File(path);
    await alice!.ok(`upload_file ${path} g`);

    const timeDownload = async (
      client: ClientProcess,
      peers: string,
    ): Promise<{ wallMs: number; seconds: number }> => {
      const dest = await makeTempDir();
      const started = performance.now();
      const out = await client.ok(`download_file g big.bin ${dest}`);
      expect(out).toEqual([`downloading big.bin from g to ${join(dest, "big.bin")} (50.0 MiB, ${peers})`]);
      const line = await waitForDownload(client, "g/big.bin", { timeoutMs: 60_000 });
      const wallMs = performance.now() - started;
      expect(await sha1File(join(dest, "big.bin"))).toBe(sha1);
      return { wallMs, seconds: completedFigures(line).seconds };
    };

    const one = await timeDownload(dave!, "1 peer");
    await dave!.ok("stop_share g big.bin"); // dave is not a seeder for the second round
    await bob!.ok(`upload_file ${await copyOf(path)} g`);
    await carol!.ok(`upload_file ${await copyOf(path)} g`);
    await waitForFiles(erin!, "g", ["big.bin size=52428800 seeders=3"]);
    const three = await timeDownload(erin!, "3 peers");
    console.log(
      `50 MiB download: 1 seeder ${one.wallMs.toFixed(0)} ms (client says ${one.seconds} s), ` +
        `3 seeders ${three.wallMs.toFixed(0)} ms (client says ${three.seconds} s)`,
    );
  }, 60_000);

  test("refuses an unknown file and a file no live peer shares at once, changing nothing", async () => {
    const cluster = await makeCluster({ trackers: 1 });
    await startTrackers(cluster);
    const [alice, bob] = await groupOf(cluster, ["alice", "bob"]);
    const dest = await makeTempDir();
    const timed = async (line: string, error: string) => {
      const started = performance.now();
      await expectError(bob!, line, error);
      expect(performance.now() - started).toBeLessThan(2_000);
    };
    await timed(`download_file g nope.bin ${dest}`, 'no file "nope.bin" in "g": see list_files g');
    await timed(`download_file nogroup nope.bin ${dest}`, 'no group "nogroup": see list_groups');

    const path = await randomFile(await tempPath("orphan.bin"), MiB);
    await alice!.ok(`upload_file ${path} g`);
    await alice!.kill("SIGKILL"); // its session is not logged out, but stops being live
    await waitForFiles(bob!, "g", ["orphan.bin size=1048576 seeders=0"], 15_000);
    await timed(
      `download_file g orphan.bin ${dest}`,
      "no live peer shares orphan.bin in g right now: try again later",
    );
    await expectOut(bob!, "show_downloads", []);
    await expectOut(bob!, "list_files g", ["orphan.bin size=1048576 seeders=0"]);
    expect(await readdir(dest)).toEqual([]);
  }, 30_000);

  test("lands in a directory under the file name or at a new path, and refuses an existing file", async () => {
    const cluster = await makeCluster({ trackers: 1 });
    await startTrackers(cluster);
    const [alice, bob] = await groupOf(cluster, ["alice", "bob"]);
    const path = await randomFile(await tempPath("doc.bin"), 2 * MiB + 7);
    const sha1 = await sha1File(path);
    await alice!.ok(`upload_file ${path} g`);
    const dest = await makeTempDir();

    // An existing file, as the destination or inside the destination directory: refused.
    const existing = join(dest, "existing.txt");
    await writeFile(existing, "keep me");
    await expectError(
      bob!,
      `download_file g doc.bin ${existing}`,
      `${existing} already exists: choose another destination or remove it`,
    );
    await writeFile(join(dest, "doc.bin"), "keep me too");
    await expectError(
      bob!,
      `download_file g doc.bin ${dest}`,
      `${join(dest, "doc.bin")} already exists: choose another destination or remove it`,
    );
    const nowhere = join(dest, "no", "such", "dir", "x.bin");
    await expectError(
      bob!,
      `download_file g doc.bin ${nowhere}`,
      `directory ${join(dest, "no", "such", "dir")} does not exist: create it first`,
    );
    // The part file cannot be made (a directory holds its name): refused, and bob is not left
    // listed as a seeder of a file he will not serve.
    const blocked = join(dest, ".blocked.bin.part");
    await mkdir(blocked);
    const r = await bob!.run(`download_file g doc.bin ${join(dest, "blocked.bin")}`);
    expect(r.out).toEqual([]);
    expect(r.err).toHaveLength(1);
    expect(r.err[0]).toStartWith(`error: cannot write ${blocked}: `);
    await waitForFiles(bob!, "g", [`doc.bin size=${2 * MiB + 7} seeders=1`]);
    await rm(blocked, { recursive: true });
    await expectOut(bob!, "show_downloads", []);
    expect(await readFile(existing, "utf8")).toBe("keep me");
    expect(await readFile(join(dest, "doc.bin"), "utf8")).toBe("keep me too");

    // A new path: the file lands there under that name.
    const renamed = join(dest, "renamed.bin");
    await expectOut(bob!, `download_file g doc.bin ${renamed}`, [
      `downloading doc.bin from g to ${renamed} (2.0 MiB, 1 peer)`,
    ]);
    await waitForDownload(bob!, "g/doc.bin");
    expect(await sha1File(renamed)).toBe(sha1);

    // A directory: the file lands inside under its own name (a relative path is resolved too).
    const carol = await newMember(cluster, alice!, "carol");
    const sub = join(dest, "sub");
    await mkdir(sub);
    await expectOut(carol, `download_file g doc.bin ${relative(cluster.dir, sub)}/`, [
      `downloading doc.bin from g to ${join(sub, "doc.bin")} (2.0 MiB, 2 peers)`,
    ]);
    await waitForDownload(carol, "g/doc.bin");
    expect(await sha1File(join(sub, "doc.bin"))).toBe(sha1);
    expect((await readdir(dest)).sort()).toEqual(["doc.bin", "existing.txt", "renamed.bin", "sub"]);
  }, 30_000);

  test("two downloads aimed at the same path cannot garble each other or the file that lands there", async () => {
    const cluster = await makeCluster({ trackers: 1 });
    await startTrackers(cluster);
    const [alice, bob] = await groupOf(cluster, ["alice", "bob"]);
    const dir = await makeTempDir();
    const sources = {
      "big.bin": await randomFile(join(dir, "big.bin"), 100 * MiB),
      "small.bin": await randomFile(join(dir, "small.bin"), 10 * MiB),
    };
    for (const path of Object.values(sources)) await alice!.ok(`upload_file ${path} g`);
    const target = await tempPath("out.bin");
    await bob!.ok(`download_file g big.bin ${target}`);
    const second = await bob!.run(`download_file g small.bin ${target}`); // while big.bin is still coming in
    // Either the second one is refused at once, or each ends ([C] or [F]) and what lands is whole.
    let lines: string[] = [];
    await waitUntil(
      async () => {
        lines = await bob!.ok("show_downloads");
        return lines.every((l) => !l.startsWith("[D]"));
      },
      { timeoutMs: 15_000, intervalMs: 200, what: "both downloads to end" },
    ).catch(() => {});
    const complete = lines
      .filter((l) => l.startsWith("[C]"))
      .map((l) => l.split(" ")[2] as keyof typeof sources); // cast: checked against sources' keys below
    const landed = complete.length === 1 ? await sha1File(target) : "";
    const intact = complete.length === 1 && landed === (await sha1File(sources[complete[0]!]));
    expect({
      states: lines.map((l) => l.slice(0, 3)).sort(),
      complete: complete.length,
      intact,
      second,
      lines,
    }).toEqual({
      states: second.err.length === 1 ? ["[C]"] : ["[C]", "[F]"],
      complete: 1,
      intact: true,
      second: expect.anything(),
      lines: expect.anything(),
    });
  }, 30_000);

  test("refuses a file name that could write outside the destination", async () => {
    const cluster = await makeCluster({ trackers: 1 });
    await startTrackers(cluster);
    const [alice, bob] = await groupOf(cluster, ["alice", "bob"]);
    const path = await randomFile(await tempPath("x.bin"), 1000);
    await alice!.ok(`upload_file ${path} g`);
    const root = await makeTempDir();
    const dest = join(root, "inside");
    await mkdir(dest);
    const usage = "usage: download_file <group_id> <file_name> <destination_path>";
    await expectError(
      bob!,
      `download_file g ../x.bin ${dest}`,
      `file_name "../x.bin" must not contain / or \\: ${usage}`,
    );
    await expectError(
      bob!,
      `download_file g /x.bin ${dest}`,
      `file_name "/x.bin" must not contain / or \\: ${usage}`,
    );
    await expectError(
      bob!,
      `download_file g sub/x.bin ${dest}`,
      `file_name "sub/x.bin" must not contain / or \\: ${usage}`,
    );
    await expectError(
      bob!,
      `download_file g ..\\x.bin ${dest}`,
      `file_name "..\\x.bin" must not contain / or \\: ${usage}`,
    );
    await expectError(bob!, `download_file g .. ${dest}`, `file_name ".." is not a name: ${usage}`);
    await expectError(bob!, `download_file g . ${dest}`, `file_name "." is not a name: ${usage}`);
    await expectOut(bob!, "show_downloads", []);
    expect(await readdir(root)).toEqual(["inside"]);
    expect(await readdir(dest)).toEqual([]);
  }, 30_000);
});

/** Starts a client for a new user, logs in, and has `owner` accept it into g. */
async function newMember(cluster: Cluster, owner: ClientProcess, user: string): Promise<ClientProcess> {
  const client = await startClient(cluster);
  await client.ok(`create_user ${user} pw-${user}`);
  await client.ok(`login ${user} pw-${user}`);
  await client.ok("join_group g");
  await owner.ok(`accept_request g ${user}`);
  return client;
}

describe("who may fetch pieces", () => {
  test("a seeder serves a member's proven session and refuses a non-member, a stranger and a replayed proof", async () => {
    const cluster = await makeCluster({ trackers: 2 });
    await startTrackers(cluster);
    const [alice, bob] = await groupOf(cluster, ["alice", "bob"], { clients: { order: [1, 2] } });
    const [dan] = await groupOf(cluster, ["dan"], { group: "h", clients: { order: [1, 2] } });
    const path = await randomFile(await tempPath("secret.bin"), 3 * MiB);
    await alice!.ok(`upload_file ${path} g`);
    await expectError(
      dan!,
      `download_file g secret.bin ${await makeTempDir()}`,
      'you are not a member of "g": run join_group g and ask its owner to accept',
    );
    await settle(cluster);

    // Raw sessions logged in through tracker 2: the seeder asks tracker 1, which must know them.
    const t2 = cluster.slots[1]!;
    const asDan = await TrackerSession.connect(t2);
    const danPeer = `127.0.0.1:${freePort()}`;
    await asDan.login("dan", "pw-dan", danPeer);
    const asBob = await TrackerSession.connect(t2);
    const bobPeer = `127.0.0.1:${freePort()}`;
    await asBob.login("bob", "pw-bob", bobPeer);
    await settle(cluster);
    const hello = (session: string, selfPeer: string, extra: { proofFor?: string; name?: string } = {}) =>
      helloSeeder({
        seeder: alice!.peer,
        session,
        selfPeer,
        group: "g",
        name: extra.name ?? "secret.bin",
        proofFor: extra.proofFor,
      });

    // A member's proof gets the bitfield. The seeder shared the file itself, so it super-seeds:
    // it shows the first downloader two of the 6 pieces (nobody has been sent any yet), two in
    // a row from a piece of its own choosing.
    const first = await hello(asBob.sessionId, bobPeer);
    expect(first).toMatchObject({ t: "p_bitfield", superSeed: true });
    const bits = (first as { bits: Uint8Array }).bits; // cast: a p_bitfield carries its bits as bytes
    const shown = [0, 1, 2, 3, 4, 5].filter((i) => ((bits[0] ?? 0) & (0x80 >> i)) !== 0);
    expect(shown).toHaveLength(2);
    expect(shown[1]! - shown[0]! === 1 || (shown[0] === 0 && shown[1] === 5)).toBe(true);
    expect((bits[0] ?? 0) & 0b11).toBe(0); // nothing beyond the 6 pieces
    // A logged-in non-member is refused.
    expect(await hello(asDan.sessionId, danPeer)).toEqual({
      t: "p_refuse",
      reason: 'dan is not a member of "g"',
    });
    // A proof from a session nobody knows, or claiming someone else's address, is refused.
    const stranger = "0".repeat(64);
    expect(await hello(stranger, danPeer)).toEqual({
      t: "p_refuse",
      reason: `peer ${danPeer} is not logged in`,
    });
    expect(await hello(asDan.sessionId, bobPeer)).toEqual({
      t: "p_refuse",
      reason: `peer ${bobPeer} is not logged in`,
    });
    // A member's proof made for another seeder (bob's own address) does not open this one.
    expect(await hello(asBob.sessionId, bobPeer, { proofFor: bob!.peer })).toEqual({
      t: "p_refuse",
      reason: `peer ${bobPeer} is not logged in`,
    });
    // A file the seeder does not share is refused before any check.
    expect(await hello(asBob.sessionId, bobPeer, { name: "other.bin" })).toEqual({
      t: "p_refuse",
      reason: '"other.bin" is not shared here in "g"',
    });
    // A leaver's session no longer proves membership.
    await bob!.ok("leave_group g");
    await settle(cluster);
    expect(await hello(asBob.sessionId, bobPeer)).toEqual({
      t: "p_refuse",
      reason: 'bob is not a member of "g"',
    });
    expect(alice!.stderr.text()).toContain("refused peer 127.0.0.1:");
  }, 30_000);
});

describe("downloaders share what they have", () => {
  test("a downloader serves its verified pieces to a second downloader before it finishes", async () => {
    const cluster = await makeCluster({ trackers: 1 });
    await startTrackers(cluster);
    const [alice, bob, carol, dave] = await groupOf(cluster, ["alice", "bob", "carol", "dave"]);
    const path = await randomFile(await tempPath("relay.bin"), 120 * MiB);
    const sha1 = await sha1File(path);
    await alice!.ok(`upload_file ${path} g`);
    const bobDest = await makeTempDir();
    await bob!.ok(`download_file g relay.bin ${bobDest}`);
    await waitForPercent(bob!, "g/relay.bin", { percent: 10 });
    await alice!.kill("SIGKILL"); // the only full copy is gone: bob holds some of the pieces
    // bob's share is frozen now; read it once it stops moving.
    let bobPercent = -1;
    await waitUntil(
      async () => {
        const before = bobPercent;
        bobPercent = (await downloadLine(bob!, "g/relay.bin"))!.percent!;
        return bobPercent === before;
      },
      { intervalMs: 300, what: "bob's download to stop moving" },
    );
    expect(bobPercent).toBeGreaterThanOrEqual(10);
    expect(bobPercent).toBeLessThan(100);

    // carol can only get pieces from bob, who is still downloading.
    const carolDest = await makeTempDir();
    await carol!.ok(`download_file g relay.bin ${carolDest}`);
    const carolLine = await waitForPercent(carol!, "g/relay.bin", { percent: bobPercent, timeoutMs: 15_000 });
    expect(carolLine.percent).toBe(bobPercent);
    expect((await downloadLine(bob!, "g/relay.bin"))!.state).toBe("D");

    // A full copy comes back at another address: both finish, byte for byte.
    await dave!.ok(`upload_file ${await copyOf(path)} g`);
    await waitForDownload(bob!, "g/relay.bin", { timeoutMs: 30_000 });
    await waitForDownload(carol!, "g/relay.bin", { timeoutMs: 30_000 });
    expect(await sha1File(join(bobDest, "relay.bin"))).toBe(sha1);
    expect(await sha1File(join(carolDest, "relay.bin"))).toBe(sha1);
  }, 60_000);
});

describe("stop_share, logout and login", () => {
  test("stop_share removes this client as a seeder, and the file when it was the last one", async () => {
    const cluster = await makeCluster({ trackers: 1 });
    await startTrackers(cluster);
    const [alice, bob, carol] = await groupOf(cluster, ["alice", "bob", "carol"]);
    const path = await randomFile(await tempPath("s.bin"), MiB);
    await alice!.ok(`upload_file ${path} g`);
    await bob!.ok(`upload_file ${await copyOf(path)} g`);
    await expectOut(carol!, "list_files g", ["s.bin size=1048576 seeders=2"]);
    await expectOut(alice!, "stop_share g s.bin", ["stopped sharing s.bin in g"]);
    await expectOut(carol!, "list_files g", ["s.bin size=1048576 seeders=1"]);
    await expectError(alice!, "stop_share g s.bin", 'you do not share "s.bin" in "g" from this client');
    await expectError(carol!, "stop_share g s.bin", 'you do not share "s.bin" in "g" from this client');
    // alice's peer server no longer serves it, even to a member with a valid session.
    const asCarol = await TrackerSession.connect(cluster.slots[0]!);
    const carolPeer = `127.0.0.1:${freePort()}`;
    await asCarol.login("carol", "pw-carol", carolPeer);
    expect(
      await helloSeeder({
        seeder: alice!.peer,
        session: asCarol.sessionId,
        selfPeer: carolPeer,
        group: "g",
        name: "s.bin",
      }),
    ).toEqual({
      t: "p_refuse",
      reason: '"s.bin" is not shared here in "g"',
    });
    expect(
      await helloSeeder({
        seeder: bob!.peer,
        session: asCarol.sessionId,
        selfPeer: carolPeer,
        group: "g",
        name: "s.bin",
      }),
    ).toMatchObject({ t: "p_bitfield" });
    await expectOut(bob!, "stop_share g s.bin", ["stopped sharing s.bin in g"]);
    await expectOut(carol!, "list_files g", []);
    await expectError(
      carol!,
      `download_file g s.bin ${await makeTempDir()}`,
      'no file "s.bin" in "g": see list_files g',
    );
  }, 30_000);

  test("logout stops all sharing from this client, and login on the same client shares again", async () => {
    const cluster = await makeCluster({ trackers: 1 });
    await startTrackers(cluster);
    const [alice, bob] = await groupOf(cluster, ["alice", "bob"]);
    await alice!.ok("create_group g2");
    const dir = await makeTempDir();
    const one = await randomFile(join(dir, "one.bin"), MiB);
    const two = await randomFile(join(dir, "two.bin"), 2 * MiB);
    await alice!.ok(`upload_file ${one} g`);
    await alice!.ok(`upload_file ${two} g`);
    await alice!.ok(`upload_file ${one} g2`);
    await bob!.ok(`upload_file ${await copyOf(two)} g`);
    await expectOut(bob!, "list_files g", [
      "one.bin size=1048576 seeders=1",
      "two.bin size=2097152 seeders=2",
    ]);

    await expectOut(alice!, "logout", ["logged out"]);
    await expectOut(bob!, "list_files g", ["two.bin size=2097152 seeders=1"]);
    await expectError(
      bob!,
      `download_file g one.bin ${await makeTempDir()}`,
      'no file "one.bin" in "g": see list_files g',
    );
    const asBob = await TrackerSession.connect(cluster.slots[0]!);
    const bobPeer = `127.0.0.1:${freePort()}`;
    await asBob.login("bob", "pw-bob", bobPeer);
    expect(
      await helloSeeder({
        seeder: alice!.peer,
        session: asBob.sessionId,
        selfPeer: bobPeer,
        group: "g",
        name: "two.bin",
      }),
    ).toEqual({
      t: "p_refuse",
      reason: '"two.bin" is not shared here in "g"',
    });

    await expectOut(alice!, "login alice pw-alice", [
      "logged in as alice (tracker 1)",
      "re-sharing one.bin in g",
      "re-sharing two.bin in g",
      "re-sharing one.bin in g2",
    ]);
    await waitForFiles(bob!, "g", ["one.bin size=1048576 seeders=1", "two.bin size=2097152 seeders=2"]);
    await expectOut(alice!, "list_files g2", ["one.bin size=1048576 seeders=1"]);
    expect(
      await helloSeeder({
        seeder: alice!.peer,
        session: asBob.sessionId,
        selfPeer: bobPeer,
        group: "g",
        name: "two.bin",
      }),
    ).toMatchObject({ t: "p_bitfield" });
  }, 30_000);

  test("leave_group stops this client serving its files in that group", async () => {
    const cluster = await makeCluster({ trackers: 1 });
    await startTrackers(cluster);
    const [alice, bob] = await groupOf(cluster, ["alice", "bob"]);
    const path = await randomFile(await tempPath("left.bin"), MiB);
    await alice!.ok(`upload_file ${path} g`);
    const asBob = await TrackerSession.connect(cluster.slots[0]!);
    const bobPeer = `127.0.0.1:${freePort()}`;
    await asBob.login("bob", "pw-bob", bobPeer);
    const hello = () =>
      helloSeeder({
        seeder: alice!.peer,
        session: asBob.sessionId,
        selfPeer: bobPeer,
        group: "g",
        name: "left.bin",
      });
    expect(await hello()).toMatchObject({ t: "p_bitfield" });
    await expectOut(alice!, "leave_group g", ["left g"]);
    await expectOut(bob!, "list_files g", []);
    // A member who still knows alice's address gets nothing from her any more.
    expect(await hello()).toEqual({ t: "p_refuse", reason: '"left.bin" is not shared here in "g"' });
  }, 30_000);

  test("login after a restart re-shares what this client shared, and skips a file that changed or vanished", async () => {
    const cluster = await makeCluster({ trackers: 1 });
    await startTrackers(cluster);
    const [alice, bob] = await groupOf(cluster, ["alice", "bob"]);
    const dir = await makeTempDir();
    const kept = await randomFile(join(dir, "kept.bin"), 3 * MiB);
    const changed = await randomFile(join(dir, "changed.bin"), MiB);
    const touched = await randomFile(join(dir, "touched.bin"), MiB);
    const gone = await randomFile(join(dir, "gone.bin"), MiB);
    for (const path of [kept, changed, touched, gone]) await alice!.ok(`upload_file ${path} g`);
    expect(await alice!.close()).toBe(0);
    await expectOut(bob!, "list_files g", []);

    await writeFile(changed, "new content");
    const later = new Date(Date.now() + 5_000);
    await utimes(touched, later, later); // same bytes, new mtime: changed as far as the client can tell cheaply
    await rm(gone);
    const port = Number(alice!.peer.split(":")[1]);
    const again = await startClient(cluster, { port, dataDir: alice!.dataDir });
    await expectOut(again, "login alice pw-alice", [
      "logged in as alice (tracker 1)",
      "re-sharing kept.bin in g",
      `warning: not re-sharing changed.bin in g: ${changed} changed since it was shared; run upload_file again`,
      `warning: not re-sharing touched.bin in g: ${touched} changed since it was shared; run upload_file again`,
      `warning: not re-sharing gone.bin in g: ${gone} no longer exists; run upload_file again`,
    ]);
    await expectOut(bob!, "list_files g", ["kept.bin size=3145728 seeders=1"]);
    const dest = await makeTempDir();
    await bob!.ok(`download_file g kept.bin ${dest}`);
    await waitForDownload(bob!, "g/kept.bin");
    expect(await sha1File(join(dest, "kept.bin"))).toBe(await sha1File(kept));
    // Uploaded again, a changed file is shared with its new content.
    await expectOut(again, `upload_file ${changed} g`, [
      sharingLine("changed.bin", "11 B", 1, await sha1File(changed)),
    ]);
    await expectOut(bob!, "list_files g", [
      "kept.bin size=3145728 seeders=2",
      "changed.bin size=11 seeders=1",
    ]);
  }, 30_000);
});
