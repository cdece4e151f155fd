// spec/e2e/tls_pins.spec.ts: who a client or a tracker accepts at a tracker_info.txt line. A line
// with an id accepts only that key; a line without one trusts the first key seen there and
// refuses a later different one with what to do; --strict refuses lines without an id; a
// --key-file keeps a tracker's identity when its data dir is lost.
import { afterEach, describe, expect, test } from "bun:test";
import { readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { startClient } from "../helpers/client_process.ts";
import {
  type Cluster,
  makeCluster,
  settle,
  startTrackers,
  waitForLinks,
  writeClientInfo,
} from "../helpers/cluster.ts";
import { startMitm } from "../helpers/mitm.ts";
import { runToExit, stopAll } from "../helpers/processes.ts";
import { startRelay } from "../helpers/relay.ts";
import { startTracker, type TrackerProcess } from "../helpers/tracker_process.ts";
import { freePort, waitUntil } from "../helpers/wait.ts";

afterEach(stopAll);

/** The id a tracker's listening line shows. */
function idOf(tracker: TrackerProcess): string {
  const id = tracker.listeningLine.split(" id ")[1]?.split(" ")[0];
  if (!id) throw new Error(`no id in "${tracker.listeningLine}"`);
  return id;
}

/** `./tracker <info> <no> --id` for a cluster slot: makes its key if needed, prints the id. */
async function idFor(cluster: Cluster, no: number, extra: string[] = []): Promise<string> {
  const slot = cluster.slots[no - 1]!;
  const r = await runToExit("tracker", [
    cluster.infoPath,
    String(no),
    "--id",
    "--data-dir",
    slot.dataDir,
    ...extra,
  ]);
  expect({ exitCode: r.exitCode, stderr: r.stderr }).toEqual({ exitCode: 0, stderr: "" });
  const id = r.stdout.trim();
  expect(id).toMatch(/^[a-z2-7]{4}(-[a-z2-7]{4}){7}$/);
  return id;
}

/** Writes the cluster's tracker_info.txt with each line's id, where `ids` gives one. */
async function pinLines(cluster: Cluster, ids: (string | undefined)[]): Promise<void> {
  const lines = cluster.slots.map((s, i) => `${s.host} ${s.port}${ids[i] ? ` ${ids[i]}` : ""}`);
  await writeFile(cluster.infoPath, `# pinned\n${lines.join("\n")}\n`);
}

/** The one error line of a command that must fail. */
async function errorOf(client: Awaited<ReturnType<typeof startClient>>, line: string): Promise<string> {
  const r = await client.run(line);
  expect(r.out).toEqual([]);
  expect(r.err).toHaveLength(1);
  return r.err[0]!;
}

describe("a pinned tracker_info.txt line", () => {
  test("a client refuses a man in the middle presenting its own key, naming the line and both ids", async () => {
    const cluster = await makeCluster({ trackers: 1 });
    const [t1] = await startTrackers(cluster);
    const mitm = await startMitm({ port: freePort(), target: cluster.slots[0]! });
    const infoPath = await writeClientInfo(cluster, [`${mitm.address} ${idOf(t1!)}`]);
    const client = await startClient(cluster, { infoPath });
    const started = Date.now();
    expect(await errorOf(client, "create_user eve pw")).toBe(
      `error: tracker 1 (tracker_info.txt line 1, ${mitm.address}) presented id ${mitm.identity.id}, but its line pins id ${idOf(t1!)}: refusing it (someone else answers at that address, or the line names another tracker; if that tracker's key was replaced on purpose, put the id its --id prints on the line)`,
    );
    expect(Date.now() - started).toBeLessThan(5_000); // refused at once, not after the 20 s request timeout
    expect(mitm.connections).toBeGreaterThan(0);
    expect(mitm.bytesFromVictims).toBe(0); // refused in the handshake: not one application byte
    // Control: the same man in the middle on an unpinned line is trusted on first use and reads everything.
    const naive = await startClient(cluster, { infoPath: await writeClientInfo(cluster, [mitm.address]) });
    await naive.ok("create_user eve pw");
    expect(mitm.bytesFromVictims).toBeGreaterThan(0);
    await mitm.stop();
  }, 30_000);

  test("a client refuses a line whose id names another tracker", async () => {
    const cluster = await makeCluster({ trackers: 2 });
    const [t1, t2] = await startTrackers(cluster);
    const slot = cluster.slots[0]!;
    const infoPath = await writeClientInfo(cluster, [`${slot.host}:${slot.port} ${idOf(t2!).toUpperCase()}`]);
    const client = await startClient(cluster, { infoPath });
    expect(await errorOf(client, "create_user x pw")).toStartWith(
      `error: tracker 1 (tracker_info.txt line 1, ${slot.host}:${slot.port}) presented id ${idOf(t1!)}, but its line pins id ${idOf(t2!)}: refusing it`,
    );
  }, 30_000);

  test("a tracker does not sync with a tracker whose key is not the one its line pins, and logs why", async () => {
    const cluster = await makeCluster({ trackers: 2 });
    const t2 = await startTracker(cluster, 2); // reads the file before it is pinned
    const id1 = await idFor(cluster, 1);
    await pinLines(cluster, [undefined, id1]); // line 2 names tracker 1's key
    const t1 = await startTracker(cluster, 1);
    const why = `tracker 2 (tracker_info.txt line 3, ${t2.address}) presented id ${idOf(t2)}, but its line pins id ${id1}`;
    await t1.stderr.next((l) => l.includes(why), 10_000);
    const viaTwo = await startClient(cluster, { order: [2] });
    await viaTwo.ok("create_user only-on-two pw");
    await Bun.sleep(1_500); // three sync rounds
    const [s1, s2] = [await t1.status(), await t2.status()];
    expect({ link: s1.links.get(2), users: s1.users }).toEqual({ link: false, users: 0 });
    expect({ link: s2.links.get(1), users: s2.users }).toEqual({ link: false, users: 1 });
    expect(t1.stderr.text()).toContain("not syncing with it");
  }, 30_000);
});

describe("trust on first use", () => {
  test("a tracker refuses a tracker whose key changed (data dir wiped), says what to do, and doing it works", async () => {
    const cluster = await makeCluster({ trackers: 2 });
    const [t1, t2] = await startTrackers(cluster);
    await waitForLinks(cluster);
    const client = await startClient(cluster, { order: [1] });
    await client.ok("create_user kept pw");
    await settle(cluster);
    const oldId = idOf(t2!);
    await t2!.kill("SIGKILL");
    await rm(cluster.slots[1]!.dataDir, { recursive: true, force: true });
    await t2!.restart();
    expect(idOf(t2!)).not.toBe(oldId);
    const known = join(cluster.slots[0]!.dataDir, "known_trackers");
    await t1!.stderr.next(
      (l) => l.includes(`presented id ${idOf(t2!)}, not the id ${oldId} first seen there`),
      10_000,
    );
    expect(t1!.stderr.text()).toContain(
      `delete its line from ${known} or pin the new id as the line's third field`,
    );
    await Bun.sleep(1_000);
    expect((await t1!.status()).links.get(2)).toBe(false);
    // What the message says: delete the line. Tracker 1 trusts the new key and tracker 2 catches up.
    const text = await readFile(known, "utf8");
    expect(text).toContain(`${t2!.address} ${oldId}`);
    await writeFile(known, text.replace(`${t2!.address} ${oldId}\n`, ""));
    await waitForLinks(cluster);
    await settle(cluster);
    expect((await t2!.status()).users).toBe(1);
  }, 40_000);

  test("a client refuses a tracker whose key changed after first contact, and says what to do", async () => {
    const cluster = await makeCluster({ trackers: 1 });
    const [t1] = await startTrackers(cluster);
    const client = await startClient(cluster);
    await client.ok("create_user ann pw");
    const oldId = idOf(t1!);
    await t1!.kill("SIGKILL");
    await rm(cluster.slots[0]!.dataDir, { recursive: true, force: true });
    await t1!.restart();
    const line = await errorOf(client, "login ann pw");
    expect(line).toContain(
      `tracker 1 (tracker_info.txt line 2, ${t1!.address}) presented id ${idOf(t1!)}, not the id ${oldId} first seen there`,
    );
    expect(line).toContain(
      `delete its line from ${join(client.dataDir, "known_trackers")} or pin the new id`,
    );
  }, 30_000);

  test("a client refuses a man in the middle that takes over an address after first contact", async () => {
    const cluster = await makeCluster({ trackers: 1 });
    const [t1] = await startTrackers(cluster);
    const relay = startRelay(cluster.slots[0]!); // an honest path at first
    const client = await startClient(cluster, { infoPath: await writeClientInfo(cluster, [relay.address]) });
    await client.ok("create_user ann pw");
    await relay.stop();
    const mitm = await startMitm({ port: relay.port, target: cluster.slots[0]! });
    const line = await errorOf(client, "login ann pw");
    expect(line).toContain(`presented id ${mitm.identity.id}, not the id ${idOf(t1!)} first seen there`);
    expect(mitm.bytesFromVictims).toBe(0); // the password never reached it
    await mitm.stop();
  }, 30_000);
});

describe("--strict and --key-file", () => {
  test("--strict refuses a line without an id at start, naming it, on the tracker and the client", async () => {
    const cluster = await makeCluster({ trackers: 2 });
    const tracker = await runToExit("tracker", [
      cluster.infoPath,
      "1",
      "--strict",
      "--data-dir",
      cluster.slots[0]!.dataDir,
    ]);
    expect(tracker.exitCode).toBe(2);
    expect(tracker.stderr.trim()).toBe(
      `error: tracker_info.txt line 3 (${cluster.slots[1]!.host}:${cluster.slots[1]!.port}) has no id and --strict refuses unpinned lines: add the id that "./tracker tracker_info.txt 2 --id" prints on that tracker's machine as the line's third field`,
    );
    const client = await runToExit("client", [`127.0.0.1:${freePort()}`, cluster.infoPath, "--strict"], {
      cwd: cluster.dir,
    });
    expect(client.exitCode).toBe(2);
    expect(client.stderr.trim()).toStartWith("error: tracker_info.txt line 2 (");
  }, 30_000);

  test("--strict runs with every line pinned", async () => {
    const cluster = await makeCluster({ trackers: 2 });
    await pinLines(cluster, [await idFor(cluster, 1), await idFor(cluster, 2)]);
    await startTracker(cluster, 1, { args: ["--strict"] });
    await startTracker(cluster, 2, { args: ["--strict"] });
    await waitForLinks(cluster);
    const r = await runToExit("client", [`127.0.0.1:${freePort()}`, cluster.infoPath, "--strict"], {
      cwd: cluster.dir,
      stdin: "create_user sam pw\nquit\n",
    });
    expect({ exitCode: r.exitCode, stdout: r.stdout.trim() }).toEqual({
      exitCode: 0,
      stdout: "user sam created",
    });
  }, 30_000);

  test("a tracker with --key-file keeps its id when its data dir is wiped, and the others take it back", async () => {
    const cluster = await makeCluster({ trackers: 2 });
    const keyFile = join(cluster.dir, "keys", "tracker-2.key");
    expect(await idFor(cluster, 2, ["--key-file", keyFile])).toMatch(/-/);
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600);
    const t1 = await startTracker(cluster, 1);
    const t2 = await startTracker(cluster, 2, { args: ["--key-file", keyFile] });
    await waitForLinks(cluster);
    const client = await startClient(cluster, { order: [1] });
    await client.ok("create_user kept pw");
    await settle(cluster);
    const id = idOf(t2);
    await t2.kill("SIGKILL");
    await rm(cluster.slots[1]!.dataDir, { recursive: true, force: true });
    await t2.restart();
    expect(idOf(t2)).toBe(id);
    await waitForLinks(cluster);
    await settle(cluster);
    expect((await t2.status()).users).toBe(1);
    expect(t1.stderr.text()).not.toContain("refusing");
    await waitUntil(async () => (await t1.status()).links.get(2), { what: "tracker 1 to see tracker 2" });
  }, 40_000);
});
