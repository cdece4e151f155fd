// Sessions and liveness across the cluster: a client that vanishes without logging out stops
// being offered as a peer within 10 s, and its stale session blocks nobody.
import { afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { startClient } from "../helpers/client_process.ts";
import { makeCluster, startTrackers } from "../helpers/cluster.ts";
import { makeTempDir, stopAll } from "../helpers/processes.ts";

afterEach(stopAll);

describe("session liveness", () => {
  test("a client killed without logout is no longer offered as a peer within 10 s", async () => {
    const cluster = await makeCluster({ trackers: 2 });
    await startTrackers(cluster);
    const alice = await startClient(cluster, { order: [1, 2] });
    const bob = await startClient(cluster, { order: [2, 1] });
    await alice.ok("create_user alice pw");
    await alice.ok("login alice pw");
    await bob.ok("create_user bob pw");
    await bob.ok("login bob pw");
    await alice.ok("create_group g");
    await bob.ok("join_group g");
    await alice.ok("accept_request g bob");
    const dir = await makeTempDir();
    const file = join(dir, "notes.txt");
    await Bun.write(file, "a small shared file\n");
    await alice.ok(`upload_file ${file} g`);
    expect(await bob.ok("list_files g")).toEqual(["notes.txt size=20 seeders=1"]);

    await alice.kill("SIGKILL");
    const killedAt = performance.now();
    let seconds = -1;
    while (performance.now() - killedAt < 12_000) {
      if ((await bob.ok("list_files g"))[0] === "notes.txt size=20 seeders=0") {
        seconds = (performance.now() - killedAt) / 1000;
        break;
      }
      await Bun.sleep(250);
    }
    console.log(`vanished client dropped from the peer list after ${seconds.toFixed(1)} s`);
    expect(seconds).toBeGreaterThan(0);
    expect(seconds).toBeLessThan(10);
    const refused = await bob.run(`download_file g notes.txt ${join(dir, "copy.txt")}`);
    expect(refused.err).toEqual(["error: no live peer shares notes.txt in g right now: try again later"]);

    // The stale session does not stop alice from logging in on another client at once.
    const again = await startClient(cluster, { order: [2, 1] });
    expect((await again.ok("login alice pw"))[0]).toStartWith("logged in as alice (tracker ");
    expect(await again.ok("list_groups")).toEqual(["g owner=alice members=2 files=1"]);
  }, 30_000);
});
