// spec/e2e/file_faults.spec.ts: downloads under faults, with the compiled ./tracker and
// ./client as real processes on 127.0.0.1: a peer that sends corrupted pieces, a seeder
// killed mid-download, and the downloader itself killed mid-download and restarted.
import { afterEach, describe, expect, test } from "bun:test";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { memberSeeder, startBadSeeder, stopBadPeers } from "../helpers/bad_peer.ts";
import { startClient } from "../helpers/client_process.ts";
import { makeCluster, startTrackers } from "../helpers/cluster.ts";
import {
  completedFigures,
  copyOf,
  type DownloadLine,
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
import { waitUntil } from "../helpers/wait.ts";

afterEach(async () => {
  await stopBadPeers();
  await stopAll();
});

/** CPU seconds (user + system) a process has used so far, from /proc. */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" "); // fields[0] is field 3 (state)
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in 100 Hz ticks
}

const DROPPED =
  /info client \S+: peer (127\.0\.0\.1:\d+): dropped after 3 pieces that failed their SHA-1 check$/m;

/** Bob's --give-up-after in the orphaned-download test. */
const GIVE_UP_S = 5;

describe("a peer that sends corrupted pieces", () => {
  test("cannot spoil a download and is dropped for good", async () => {
    const cluster = await makeCluster({ trackers: 1 });
    await startTrackers(cluster);
    const [alice, bob, mallory] = await groupOf(cluster, ["alice", "bob", "mallory"]);
    expect(await mallory!.close()).toBe(0); // mallory's real client leaves; her hand-made peer takes over
    const path = await randomFile(await tempPath("target.bin"), 20 * MiB);
    const sha1 = await sha1File(path);
    // At first mallory is the only seeder: every piece bob gets is corrupted.
    const bad = await startBadSeeder({
      tracker: cluster.slots[0]!,
      user: "mallory",
      pass: "pw-mallory",
      group: "g",
      path,
    });
    expect(await alice!.ok("list_files g")).toEqual(["target.bin size=20971520 seeders=1"]);
    const dest = await makeTempDir();
    await bob!.ok(`download_file g target.bin ${dest}`);
    const dropped = await waitUntil(() => bob!.stderr.text().match(DROPPED) ?? undefined, {
      what: "bob to drop the corrupting peer",
    });
    expect(dropped[1]).toBe(bad.peer);
    expect(bad.stats.corrupted).toBeGreaterThanOrEqual(3);
    const stuck = await downloadLine(bob!, "g/target.bin");
    expect(stuck?.line).toMatch(/^\[D\] \[g\] target\.bin 0% /); // nothing corrupted was kept, nothing failed
    expect(await readdir(dest)).toEqual([".target.bin.part"]);

    // An honest seeder appears: the download completes byte for byte; mallory is never asked again.
    await alice!.ok(`upload_file ${path} g`);
    const line = await waitForDownload(bob!, "g/target.bin", { timeoutMs: 30_000 });
    expect(completedFigures(line)).toMatchObject({ resumed: 0 });
    expect(await sha1File(join(dest, "target.bin"))).toBe(sha1);
    expect(await readdir(dest)).toEqual(["target.bin"]);
    expect(bad.stats.connections).toBe(1);
    expect(bob!.stderr.text().match(new RegExp(DROPPED.source, "gm"))?.length).toBe(1);
  }, 30_000);

  test("downloads byte for byte from an honest seeder and a corrupting one together", async () => {
    const cluster = await makeCluster({ trackers: 1 });
    await startTrackers(cluster);
    const [alice, bob, mallory] = await groupOf(cluster, ["alice", "bob", "mallory"]);
    await mallory!.close();
    const path = await randomFile(await tempPath("mixed.bin"), 40 * MiB);
    await alice!.ok(`upload_file ${path} g`);
    const bad = await startBadSeeder({
      tracker: cluster.slots[0]!,
      user: "mallory",
      pass: "pw-mallory",
      group: "g",
      path,
    });
    const dest = await makeTempDir();
    expect(await bob!.ok(`download_file g mixed.bin ${dest}`)).toEqual([
      `downloading mixed.bin from g to ${join(dest, "mixed.bin")} (40.0 MiB, 2 peers)`,
    ]);
    const done = await waitForDownload(bob!, "g/mixed.bin", { timeoutMs: 30_000 });
    expect(await sha1File(join(dest, "mixed.bin"))).toBe(await sha1File(path));
    // How many of mallory's pieces bob checked before alice's copy completed the file depends
    // on timing (she may still be sending when it is done); three checked ones get her dropped.
    const checked = completedFigures(done).bad;
    console.log(
      `mixed download: mallory got ${bad.stats.requests} requests, sent ${bad.stats.corrupted} corrupted pieces, ${checked} checked before the end`,
    );
    expect(checked).toBeLessThanOrEqual(bad.stats.corrupted);
    if (checked >= 3) expect(bob!.stderr.text()).toMatch(DROPPED);
  }, 30_000);
});

describe("peers that die mid-download", () => {
  test("a download carries on from the other seeder when one is killed with SIGKILL", async () => {
    const cluster = await makeCluster({ trackers: 1 });
    await startTrackers(cluster);
    const [alice, bob, carol] = await groupOf(cluster, ["alice", "bob", "carol"]);
    const path = await randomFile(await tempPath("long.bin"), 200 * MiB);
    const sha1 = await sha1File(path);
    await alice!.ok(`upload_file ${path} g`);
    await bob!.ok(`upload_file ${await copyOf(path)} g`);
    const dest = await makeTempDir();
    expect(await carol!.ok(`download_file g long.bin ${dest}`)).toEqual([
      `downloading long.bin from g to ${join(dest, "long.bin")} (200.0 MiB, 2 peers)`,
    ]);
    const mid = await waitForPercent(carol!, "g/long.bin", { percent: 10 });
    expect(mid.peers).toBe(2); // fetching from both when alice dies
    expect(await alice!.kill("SIGKILL")).toBe(137);
    const line = await waitForDownload(carol!, "g/long.bin", { timeoutMs: 60_000 });
    console.log(`seeder killed at ${mid.percent}%: ${line}`);
    expect(await sha1File(join(dest, "long.bin"))).toBe(sha1);
    expect(await readdir(dest)).toEqual(["long.bin"]);
  }, 60_000);

  test("a download whose only seeder died carries on once it is back, without waiting out the seeder's cooldown", async () => {
    const cluster = await makeCluster({ trackers: 1 });
    await startTrackers(cluster);
    const [alice, bob] = await groupOf(cluster, ["alice", "bob"]);
    const path = await randomFile(await tempPath("comeback.bin"), 200 * MiB);
    await alice!.ok(`upload_file ${path} g`);
    const dest = await makeTempDir();
    await bob!.ok(`download_file g comeback.bin ${dest}`);
    await waitForPercent(bob!, "g/comeback.bin", { percent: 10 });
    expect(await alice!.kill("SIGKILL")).toBe(137);
    // The tracker still lists alice for a few seconds: bob dials her, fails, and cools her down
    // for 30 s; with nobody else to fetch from, that cooldown must not hold him.
    await Bun.sleep(2_500);
    const port = Number(alice!.peer.split(":")[1]);
    const back = await startClient(cluster, { port, dataDir: alice!.dataDir });
    await back.ok("login alice pw-alice");
    const backAt = performance.now();
    const line = await waitForDownload(bob!, "g/comeback.bin", { timeoutMs: 20_000 });
    console.log(
      `seeder back after a kill: bob completed ${((performance.now() - backAt) / 1000).toFixed(1)} s after its login: ${line}`,
    );
    expect(await sha1File(join(dest, "comeback.bin"))).toBe(await sha1File(path));
  }, 60_000);

  test("a download whose only seeder is gone for good gives up after --give-up-after seconds with [F], and download_file resumes its verified pieces once a seeder is back", async () => {
    const cluster = await makeCluster({ trackers: 1 });
    await startTrackers(cluster);
    // Bob gives up after 5 s without progress (60 s by default; the core's own tests cover that one).
    const [alice, bob] = await groupOf(cluster, ["alice", "bob"], {
      clients: [{}, { args: ["--give-up-after", String(GIVE_UP_S)] }],
    });
    const path = await randomFile(await tempPath("orphaned.bin"), 200 * MiB);
    await alice!.ok(`upload_file ${path} g`);
    const dest = await makeTempDir();
    await bob!.ok(`download_file g orphaned.bin ${dest}`);
    const mid = await waitForPercent(bob!, "g/orphaned.bin", { percent: 10 });
    expect(await alice!.kill("SIGKILL")).toBe(137);
    const killedAt = performance.now();
    let last: DownloadLine | undefined;
    while (performance.now() - killedAt < (GIVE_UP_S + 15) * 1000) {
      last = await downloadLine(bob!, "g/orphaned.bin");
      if (last?.state !== "D") break;
      await Bun.sleep(500);
    }
    const seconds = (performance.now() - killedAt) / 1000;
    console.log(
      `orphaned download ended ${seconds.toFixed(1)} s after its seeder died at ${mid.percent}%: ${last?.line}`,
    );
    expect(last?.line).toBe("[F] [g] orphaned.bin no live peer has the missing pieces");
    expect(seconds).toBeGreaterThan(GIVE_UP_S - 1); // not before that long without progress
    expect(await readdir(dest)).toEqual([".orphaned.bin.part"]); // nothing at the destination, pieces kept

    // Once a seeder is back, download_file again picks up the verified pieces.
    const back = await startClient(cluster, {
      port: Number(alice!.peer.split(":")[1]),
      dataDir: alice!.dataDir,
    });
    await back.ok("login alice pw-alice");
    await bob!.ok(`download_file g orphaned.bin ${dest}`);
    const done = await waitForDownload(bob!, "g/orphaned.bin", { timeoutMs: 30_000 });
    expect(completedFigures(done).resumed).toBeGreaterThanOrEqual(mid.percent! * 4);
    expect(await sha1File(join(dest, "orphaned.bin"))).toBe(await sha1File(path));
  }, 90_000);

  test("a sharer still listed after a withdrawal no tracker took withdraws itself when a downloader it does not serve dials it", async () => {
    const cluster = await makeCluster({ trackers: 1 });
    const [tracker] = await startTrackers(cluster);
    const [alice, bob, carol] = await groupOf(cluster, ["alice", "bob", "carol"], {
      clients: [{}, { args: ["--give-up-after", "2"] }, {}],
    });
    const path = await randomFile(await tempPath("stale.bin"), 64 * MiB);
    await alice!.ok(`upload_file ${path} g`);
    // Bob's download registers him as a sharer; then its only seeder and the tracker die, so
    // it gives up and its withdrawal reaches no tracker.
    await bob!.ok(`download_file g stale.bin ${await makeTempDir()}`);
    await Promise.all([alice!.kill("SIGKILL"), tracker!.kill("SIGKILL")]);
    const failed = await bob!.stderr.next(
      (l) => l.includes("g/stale.bin: could not withdraw it from the trackers' list"),
      40_000,
    );
    expect(failed.found).toBe(true);
    await tracker!.restart();
    // Alice is no peer once unheard for 6 s; Bob, alive and heartbeating, stays listed.
    const listed = await waitUntil(
      async () => {
        const { out } = await carol!.run("list_files g"); // an error while Carol reconnects: not yet
        return out.includes("stale.bin size=67108864 seeders=1") ? out : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 500, what: "only Bob's stale listing to be left" },
    );
    expect(listed).toEqual(["stale.bin size=67108864 seeders=1"]);
    // Carol dials the one listed sharer, Bob, who refuses her and withdraws the listing; her
    // download registers her as a sharer too, so two are listed until Bob's withdrawal lands.
    await carol!.ok(`download_file g stale.bin ${await makeTempDir()}`);
    const healed = await bob!.stderr.next(
      (l) => l.includes("g/stale.bin: a peer asked for it, but this client does not serve it"),
      10_000,
    );
    expect(healed.found).toBe(true);
    await waitUntil(
      async () => (await carol!.ok("list_files g")).includes("stale.bin size=67108864 seeders=1"),
      {
        timeoutMs: 10_000,
        intervalMs: 250,
        what: "Bob's listing to be withdrawn, Carol's left",
      },
    );
  }, 90_000);

  test("a downloader killed with SIGKILL resumes after restart and login without fetching verified pieces twice", async () => {
    const cluster = await makeCluster({ trackers: 1 });
    await startTrackers(cluster);
    const [alice, bob] = await groupOf(cluster, ["alice", "bob"]);
    const path = await randomFile(await tempPath("resume.bin"), 200 * MiB);
    const sha1 = await sha1File(path);
    await alice!.ok(`upload_file ${path} g`);
    const dest = await makeTempDir();
    await bob!.ok(`download_file g resume.bin ${dest}`);
    const mid = await waitForPercent(bob!, "g/resume.bin", { percent: 10 });
    expect(await bob!.kill("SIGKILL")).toBe(137);
    expect(await readdir(dest)).toEqual([".resume.bin.part"]); // nothing at the destination yet

    const port = Number(bob!.peer.split(":")[1]);
    const again = await startClient(cluster, { port, dataDir: bob!.dataDir });
    const out = await again.ok("login bob pw-bob");
    expect(out[0]).toBe("logged in as bob (tracker 1)");
    const resumedLine = out[1] ?? "";
    const m = resumedLine.match(
      /^resuming download of resume\.bin from g: (\d+) of 400 pieces already verified$/,
    );
    expect({ resumedLine, matches: m !== null }).toEqual({ resumedLine, matches: true });
    const verified = Number(m![1]);
    // Every piece counted before the kill was on disk, but for those still on their way to it:
    // the percent counts a piece once checked, and up to 2 MiB (4 pieces) wait for the disk then.
    expect(verified).toBeGreaterThanOrEqual(mid.percent! * 4 - 4);
    expect(verified).toBeLessThan(400);
    expect(out).toHaveLength(2);

    const line = await waitForDownload(again, "g/resume.bin", { timeoutMs: 60_000 });
    console.log(`downloader killed at ${mid.percent}%: ${line}`);
    expect(completedFigures(line)).toMatchObject({ resumed: verified, twice: 0 });
    expect(await sha1File(join(dest, "resume.bin"))).toBe(sha1);
    expect(await readdir(dest)).toEqual(["resume.bin"]);
  }, 60_000);

  test("a resumed download asks its seeder for exactly the pieces it is missing", async () => {
    const cluster = await makeCluster({ trackers: 1 });
    await startTrackers(cluster);
    const [bob, sam] = await groupOf(cluster, ["bob", "sam"]);
    await sam!.close(); // sam's hand-made seeder records every request it gets
    const path = await randomFile(await tempPath("count.bin"), 200 * MiB);
    const seeder = await memberSeeder(cluster, "sam", path);
    const dest = await makeTempDir();
    await bob!.ok(`download_file g count.bin ${dest}`);
    await waitForPercent(bob!, "g/count.bin", { percent: 10 });
    await bob!.kill("SIGKILL");
    await waitUntil(() => seeder.stats.live === 0, {
      what: "the seeder to see the killed downloader's connection close",
    });
    const before = seeder.stats.requested.length;

    const again = await startClient(cluster, {
      port: Number(bob!.peer.split(":")[1]),
      dataDir: bob!.dataDir,
    });
    const out = await again.ok("login bob pw-bob");
    const verified = Number(out[1]?.match(/: (\d+) of 400 pieces already verified$/)?.[1]);
    expect(verified).toBeGreaterThan(0);
    const line = await waitForDownload(again, "g/count.bin", { timeoutMs: 60_000 });
    expect(completedFigures(line)).toMatchObject({ resumed: verified, twice: 0 });
    const after = seeder.stats.requested.slice(before);
    expect({ requests: after.length, distinct: new Set(after).size }).toEqual({
      requests: 400 - verified,
      distinct: 400 - verified,
    });
    expect(await sha1File(join(dest, "count.bin"))).toBe(await sha1File(path));
  }, 60_000);

  test.each(["stop_share g spin.bin", "logout"])(
    "a seeder that runs %s mid-download leaves no busy loop behind, and the download carries on",
    async (command) => {
      const cluster = await makeCluster({ trackers: 1 });
      await startTrackers(cluster);
      const [alice, bob, dave] = await groupOf(cluster, ["alice", "bob", "dave"]);
      const path = await randomFile(await tempPath("spin.bin"), 200 * MiB);
      await alice!.ok(`upload_file ${path} g`);
      const dest = await makeTempDir();
      await bob!.ok(`download_file g spin.bin ${dest}`);
      await waitForPercent(bob!, "g/spin.bin", { percent: 10 });
      await alice!.ok(command); // alice's client keeps running, but no longer serves spin.bin
      await Bun.sleep(500);
      const [a0, b0] = [await cpuSeconds(alice!.proc.pid), await cpuSeconds(bob!.proc.pid)];
      await Bun.sleep(2_000); // bob has nothing to fetch from anyone now
      const idle = {
        alice: (await cpuSeconds(alice!.proc.pid)) - a0,
        bob: (await cpuSeconds(bob!.proc.pid)) - b0,
      };
      const stuck = await downloadLine(bob!, "g/spin.bin");
      expect(stuck?.state).toBe("D");

      await dave!.ok(`upload_file ${await copyOf(path)} g`);
      await waitForDownload(bob!, "g/spin.bin", { timeoutMs: 30_000 });
      expect(await sha1File(join(dest, "spin.bin"))).toBe(await sha1File(path));
      console.log(
        `after ${command}: alice used ${idle.alice.toFixed(2)} s and bob ${idle.bob.toFixed(2)} s of CPU in 2 s (${stuck?.line})`,
      );
      // Two idle clients: heartbeats and a tick a second, far below a quarter of a core.
      expect({ alice: idle.alice < 0.5, bob: idle.bob < 0.5 }).toEqual({ alice: true, bob: true });
    },
    60_000,
  );
});

describe("a seeder that accepts and then stalls", () => {
  test("cannot hold a download: its pieces go to the other seeder and the file completes byte for byte", async () => {
    const cluster = await makeCluster({ trackers: 1 });
    await startTrackers(cluster);
    const [alice, bob, mallory] = await groupOf(cluster, ["alice", "bob", "mallory"]);
    await mallory!.close();
    const path = await randomFile(await tempPath("stall.bin"), 20 * MiB);
    const sha1 = await sha1File(path);
    await alice!.ok(`upload_file ${path} g`);
    const staller = await memberSeeder(cluster, "mallory", path, { stall: true });
    expect(await bob!.ok("list_files g")).toEqual(["stall.bin size=20971520 seeders=2"]);
    const dest = await makeTempDir();
    await bob!.ok(`download_file g stall.bin ${dest}`);
    await waitForDownload(bob!, "g/stall.bin", { timeoutMs: 30_000 });
    expect(staller.stats.requests).toBeGreaterThan(0); // it was asked, and never answered
    expect(await sha1File(join(dest, "stall.bin"))).toBe(sha1);
  }, 40_000);
});
