// spec/e2e/tls_peers.spec.ts: peers know each other by the keys their sessions registered. A
// downloader refuses a seeder presenting another key; a seeder's tracker refuses a proof made
// on another connection (channel binding) or shown by a client with another key.
import { afterEach, describe, expect, test } from "bun:test";
import { helloSeeder, memberSeeder, stopBadPeers, TrackerSession } from "../helpers/bad_peer.ts";
import { makeCluster, startTrackers } from "../helpers/cluster.ts";
import { downloadLine, groupOf, MiB, randomFile, tempPath, waitForDownload } from "../helpers/files.ts";
import { freshIdentity, TEST_IDENTITY } from "../helpers/identity.ts";
import { makeTempDir, stopAll } from "../helpers/processes.ts";
import { closeRawSockets, RawSocket } from "../helpers/raw_socket.ts";
import { waitUntil } from "../helpers/wait.ts";

afterEach(async () => {
  closeRawSockets();
  await stopBadPeers();
  await stopAll();
});

describe("a downloader", () => {
  test("refuses a seeder that presents a key other than the one its session registered", async () => {
    const cluster = await makeCluster({ trackers: 1 });
    await startTrackers(cluster);
    const [, bob, mallory] = await groupOf(cluster, ["alice", "bob", "mallory"]);
    await mallory!.close(); // her hand-made seeder logs in instead
    const path = await randomFile(await tempPath("keyed.bin"), 2 * MiB);
    const impostor = await freshIdentity();
    const seeder = await memberSeeder(cluster, "mallory", path, { listenIdentity: impostor }); // her session registered TEST_IDENTITY
    const dest = await makeTempDir();
    await bob!.ok(`download_file g keyed.bin ${dest}`);
    const refusal = `refusing seeder ${seeder.peer}: it presented key ${impostor.id}, but its session registered ${TEST_IDENTITY.id}`;
    await waitUntil(() => bob!.stderr.text().includes(refusal), { what: "bob to refuse the seeder" });
    expect(seeder.stats.requests).toBe(0);
    // Control: the same seeder with its session's key serves the file.
    seeder.close();
    await memberSeeder(cluster, "mallory", path);
    await waitForDownload(bob!, "g/keyed.bin", { timeoutMs: 45_000 });
  }, 60_000);
});

describe("a newcomer that connects to a downloader", () => {
  test("is dialled back at once, by the key the tracker confirmed for it, before any peer list names it", async () => {
    const cluster = await makeCluster({ trackers: 1 });
    await startTrackers(cluster);
    const [, bob, carol, mallory] = await groupOf(cluster, ["alice", "bob", "carol", "mallory"]);
    await mallory!.close();
    const path = await randomFile(await tempPath("newcomer.bin"), 2 * MiB);
    // A seeder that sends nothing: bob and carol stay downloading, and each is the other's peer.
    await memberSeeder(cluster, "mallory", path, { stall: true });
    await bob!.ok(`download_file g newcomer.bin ${await makeTempDir()}`);
    await waitUntil(async () => (await downloadLine(bob!, "g/newcomer.bin"))?.peers === 1, {
      what: "bob to connect to the seeder",
    });
    // bob's peer list (from the tracker, refreshed every 5 s) does not name carol yet: he
    // learns of her when she connects to him, and knows her key only from that connection's check.
    await carol!.ok(`download_file g newcomer.bin ${await makeTempDir()}`);
    await waitUntil(async () => (await downloadLine(bob!, "g/newcomer.bin"))?.peers === 2, {
      what: "bob to connect to carol",
      timeoutMs: 4_000,
    });
    expect(bob!.stderr.text()).not.toContain("refusing seeder");
  }, 30_000);
});

describe("a seeder's check of a membership proof", () => {
  /** alice seeds a file; bob is a member whose session (key TEST_IDENTITY) the test holds. */
  async function target() {
    const cluster = await makeCluster({ trackers: 1 });
    await startTrackers(cluster);
    const [alice, bobClient] = await groupOf(cluster, ["alice", "bob"]);
    await bobClient!.close();
    const path = await randomFile(await tempPath("proved.bin"), 1 * MiB);
    await alice!.ok(`upload_file ${path} g`);
    const bob = await TrackerSession.connect(cluster.slots[0]!);
    await bob.login("bob", "pw-bob", "127.0.0.1:1");
    const hello = {
      seeder: alice!.peer,
      session: bob.sessionId,
      selfPeer: "127.0.0.1:1",
      group: "g",
      name: "proved.bin",
    };
    return { alice: alice!, hello };
  }

  test("admits a proof made on its own connection, and refuses one made on another (relayed)", async () => {
    const { alice, hello } = await target();
    expect(await helloSeeder(hello)).toMatchObject({ t: "p_bitfield" });
    // A man in the middle holds bob's proof for the connection bob opened to it; shown on the
    // middle's own connection to alice, it is bound to the wrong TLS exporter.
    const elsewhere = await RawSocket.connect({ port: Number(alice.peer.split(":")[1]) });
    const relayed = await helloSeeder({ ...hello, binding: elsewhere.server!.binding });
    expect(relayed).toEqual({ t: "p_refuse", reason: "peer 127.0.0.1:1 is not logged in" });
  }, 40_000);

  test("refuses a correct proof shown by a client presenting another key than the session's", async () => {
    const { hello } = await target();
    const thief = await freshIdentity(); // a client that learnt bob's session id, but not his key
    const answer = await helloSeeder({ ...hello, identity: thief });
    expect(answer).toEqual({
      t: "p_refuse",
      reason: `peer 127.0.0.1:1 presented key ${thief.id}, not its session's key ${TEST_IDENTITY.id}`,
    });
  }, 40_000);
});

describe("a session", () => {
  test("resumes only from the client key it logged in with", async () => {
    const cluster = await makeCluster({ trackers: 1 });
    await startTrackers(cluster);
    const first = await TrackerSession.connect(cluster.slots[0]!);
    await first.ok({ t: "create_user", user: "ann", pass: "pw" });
    await first.login("ann", "pw", "127.0.0.1:2");
    const sameKey = await TrackerSession.connect(cluster.slots[0]!); // TEST_IDENTITY, as `first`
    expect(await sameKey.request({ t: "resume", token: first.token })).toMatchObject({ ok: true });
    const otherKey = await TrackerSession.connect(cluster.slots[0]!, await freshIdentity());
    expect(await otherKey.request({ t: "resume", token: first.token })).toMatchObject({
      ok: false,
      reason: "session belongs to another client key: log in again from this client",
    });
  }, 30_000);
});
