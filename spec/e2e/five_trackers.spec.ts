// Any number of trackers: five, each syncing with the four others, converge on one state.
import { afterEach, describe, expect, test } from "bun:test";
import { startClient } from "../helpers/client_process.ts";
import { makeCluster, settle, startTrackers } from "../helpers/cluster.ts";
import { stopAll } from "../helpers/processes.ts";

afterEach(stopAll);

describe("five trackers", () => {
  test("writes through the first and the last tracker reach all five, also after one is killed", async () => {
    const cluster = await makeCluster({ trackers: 5 });
    const trackers = await startTrackers(cluster);
    const first = await startClient(cluster, { order: [1, 2, 3, 4, 5] });
    const last = await startClient(cluster, { order: [5, 4, 3, 2, 1] });
    await first.ok("create_user ann pw");
    await last.ok("create_user bob pw");
    await first.ok("login ann pw");
    await last.ok("login bob pw");
    await first.ok("create_group g1");
    await last.ok("create_group g5");
    await last.ok("join_group g1");
    await first.ok("accept_request g1 bob");
    await trackers[2]!.kill("SIGKILL"); // tracker 3 misses what follows
    await last.ok("leave_group g5"); // bob was alone: g5 is removed
    await trackers[2]!.restart();
    const digest = await settle(cluster, { timeoutMs: 10_000 });
    for (const t of trackers) expect((await t.status()).digest).toBe(digest);
    for (const no of [1, 2, 3, 4, 5]) {
      const c = await startClient(cluster, { order: [no] });
      await c.ok("login ann pw");
      expect(await c.ok("list_groups")).toEqual(["g1 owner=ann members=2 files=0"]);
    }
  }, 60_000);
});
