// SPEC: one user may be logged in on several clients at once; each has its own session, and what
// a client shares is tied to that client's address.
import { afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { startClient } from "../helpers/client_process.ts";
import { makeCluster, startTrackers } from "../helpers/cluster.ts";
import { makeTempDir, stopAll } from "../helpers/processes.ts";

afterEach(stopAll);

describe("one user on several clients", () => {
  test("each client has its own session, and logging out one stops only its own shares", async () => {
    const cluster = await makeCluster({ trackers: 2 });
    await startTrackers(cluster);
    const laptop = await startClient(cluster, { order: [1, 2] });
    const desktop = await startClient(cluster, { order: [2, 1] });
    await laptop.ok("create_user ann pw");
    expect(await laptop.ok("login ann pw")).toEqual(["logged in as ann (tracker 1)"]);
    expect(await desktop.ok("login ann pw")).toEqual(["logged in as ann (tracker 1)"]); // its own copy lists tracker 2 first
    await laptop.ok("create_group g");
    const dir = await makeTempDir();
    const file = join(dir, "same.txt");
    await Bun.write(file, "the same bytes on both machines\n");
    await laptop.ok(`upload_file ${file} g`);
    await desktop.ok(`upload_file ${file} g`);
    expect(await laptop.ok("list_files g")).toEqual(["same.txt size=32 seeders=2"]);

    expect(await laptop.ok("logout")).toEqual(["logged out"]);
    expect(await desktop.ok("list_files g")).toEqual(["same.txt size=32 seeders=1"]);
    expect((await desktop.ok("whoami"))[0]).toStartWith(`ann on ${desktop.peer} via tracker `);
    expect((await laptop.run("list_files g")).err).toEqual([
      "error: not logged in: run login <user_id> <passwd>",
    ]);
  }, 30_000);
});
