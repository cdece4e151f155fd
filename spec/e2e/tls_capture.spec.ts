// spec/e2e/tls_capture.spec.ts: what an eavesdropper on the lab network sees of the three links.
// A capture on loopback (AF_PACKET, see spec/helpers/capture.ts) records every TCP byte to and
// from the trackers' and the clients' ports while users log in, the trackers replicate and a
// file moves between two real clients; the captured bytes hold no password, no session token or
// session id, no password hash, no group name and no 64-byte run of the file. The same search
// finds each of those in a plaintext connection made on purpose, so it would see a leak.
import { afterEach, describe, expect, test } from "bun:test";
import { readFile } from "node:fs/promises";
import { TrackerSession } from "../helpers/bad_peer.ts";
import { bytesOn, captureAvailable, findBytes, findRun, LoopbackCapture } from "../helpers/capture.ts";
import { startClient } from "../helpers/client_process.ts";
import { makeCluster, settle, startTrackers, waitForLinks } from "../helpers/cluster.ts";
import { MiB, randomFile, tempPath, waitForDownload } from "../helpers/files.ts";
import { stopAll } from "../helpers/processes.ts";
import { closeRawSockets, RawSocket } from "../helpers/raw_socket.ts";
import { freePort } from "../helpers/wait.ts";

const PASSWORD = "correct-horse-battery-staple-0e2f";
const GROUP = "group-name-seen-by-no-eavesdropper";
const FILE_BYTES = 3 * MiB + 12_345;
const text = (s: string) => new TextEncoder().encode(s);

afterEach(async () => {
  closeRawSockets();
  await stopAll();
});

describe.skipIf(!captureAvailable())("a capture of every link on loopback", () => {
  test("holds no password, session token, password hash, group name or 64-byte run of a shared file", async () => {
    const cluster = await makeCluster({ trackers: 2 });
    const [t1, t2] = cluster.slots.map((s) => s.port) as [number, number];
    const alicePort = freePort();
    const bobPort = freePort();
    const capture = await LoopbackCapture.start([t1, t2, alicePort, bobPort]);
    let flows: Map<string, Uint8Array>;
    const path = await randomFile(await tempPath("secret.bin"), FILE_BYTES);
    const file = new Uint8Array(await readFile(path));
    const session = await (async () => {
      await startTrackers(cluster);
      await waitForLinks(cluster);
      // Everyone talks to tracker 1 only: whatever reaches tracker 2's port is the sync link.
      const viaOne = { order: [1] };
      const alice = await startClient(cluster, { ...viaOne, port: alicePort });
      const bob = await startClient(cluster, { ...viaOne, port: bobPort });
      await alice.ok(`create_user alice ${PASSWORD}`);
      await alice.ok(`login alice ${PASSWORD}`);
      await alice.ok(`create_group ${GROUP}`);
      await alice.ok(`upload_file ${path} ${GROUP}`);
      await bob.ok(`create_user bob ${PASSWORD}`);
      await bob.ok(`login bob ${PASSWORD}`);
      await bob.ok(`join_group ${GROUP}`);
      await alice.ok(`accept_request ${GROUP} bob`);
      // A session whose token the test knows (a client's own stays inside it).
      const carol = await TrackerSession.connect(cluster.slots[0]!);
      await carol.ok({ t: "create_user", user: "carol", pass: PASSWORD });
      await carol.login("carol", PASSWORD, "127.0.0.1:1");
      await bob.ok(`download_file ${GROUP} secret.bin ${cluster.dir}`);
      await waitForDownload(bob, `${GROUP}/secret.bin`);
      await settle(cluster);
      // The control: the same secrets in clear on a plain TCP connection to tracker 1.
      const plain = await RawSocket.connect({ port: t1, plain: true });
      // One write: the tracker hangs up on the first bytes it cannot parse.
      plain.write(Buffer.concat([text(`CONTROL ${PASSWORD}`), file.subarray(1_000_000, 1_000_064)]));
      await plain.flushed();
      return carol;
    })().finally(async () => {
      flows = await capture.stop();
    });
    flows = flows!;
    // Control first: the capture saw the plaintext connection and the searches find its bytes.
    const control = new Map(
      [...flows].filter(([, bytes]) => findBytes(new Map([["c", bytes]]), text("CONTROL ")) !== undefined),
    );
    expect(control.size).toBe(1);
    expect(findBytes(control, text(PASSWORD))).toBeDefined();
    expect(findRun(control, file, 64)).toBeDefined();
    const links = new Map([...flows].filter(([flow]) => !control.has(flow)));
    // Each of the three links was captured: pieces on the seeder's port, sync on tracker 2's.
    const figures = {
      peerBytes: bytesOn(links, alicePort),
      syncBytes: bytesOn(links, t2),
      trackerOneBytes: bytesOn(links, t1),
    };
    console.log(`captured: ${JSON.stringify(figures)} in ${links.size} flows`);
    expect(figures.peerBytes).toBeGreaterThan(FILE_BYTES);
    expect(figures.syncBytes).toBeGreaterThan(1_000);
    expect(figures.trackerOneBytes).toBeGreaterThan(10_000);
    const leaks = {
      password: findBytes(links, text(PASSWORD)),
      token: findBytes(links, session.token),
      sessionId: findBytes(links, text(session.sessionId)),
      passwordHash: findBytes(links, text("$argon2id$")),
      group: findBytes(links, text(GROUP)),
      fileRun: findRun(links, file, 64),
    };
    expect(leaks).toEqual({
      password: undefined,
      token: undefined,
      sessionId: undefined,
      passwordHash: undefined,
      group: undefined,
      fileRun: undefined,
    });
  }, 60_000);
});
