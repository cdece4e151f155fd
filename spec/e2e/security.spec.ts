// Access-control promises of SECURITY.md that no other spec shows: passwords and session
// secrets never stored or printed in the clear, guessing slowed down, owners alone answer.
import { afterEach, describe, expect, test } from "bun:test";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { startClient } from "../helpers/client_process.ts";
import { makeCluster, startTrackers } from "../helpers/cluster.ts";
import { stopAll } from "../helpers/processes.ts";

afterEach(stopAll);

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

describe("security", () => {
  test("a password is stored only as a hash and never appears in any tracker file or output", async () => {
    const cluster = await makeCluster({ trackers: 2 });
    const trackers = await startTrackers(cluster);
    const client = await startClient(cluster);
    const password = "Tr0ub4dor-plaintext-canary";
    const out = [
      ...(await client.ok(`create_user ann ${password}`)),
      ...(await client.ok(`login ann ${password}`)),
    ];
    await client.ok("create_group g");
    await client.close();
    for (const t of trackers) await t.quit();
    const seen: string[] = [out.join("\n")];
    for (const path of await filesUnder(cluster.dir)) seen.push((await readFile(path)).toString("latin1"));
    for (const t of trackers) seen.push(t.stderr.lines.join("\n"), t.stdout.lines.join("\n"));
    for (const text of seen) expect(text).not.toContain(password);
    // What the tracker keeps is a Bun.password hash (argon2id).
    const stored = (await Promise.all((await filesUnder(cluster.dir)).map((p) => readFile(p))))
      .map((b) => b.toString("latin1"))
      .join("");
    expect(stored).toContain("$argon2id$");
  }, 30_000);

  test("repeated wrong passwords for one user are answered ever more slowly", async () => {
    const cluster = await makeCluster({ trackers: 1 });
    await startTrackers(cluster);
    const client = await startClient(cluster);
    await client.ok("create_user bo right");
    const waits: number[] = [];
    for (let i = 0; i < 6; i++) {
      const started = performance.now();
      expect((await client.run("login bo wrong")).err).toEqual(["error: wrong user id or password"]);
      waits.push(performance.now() - started);
    }
    // Three free tries, then 250, 500, 1000 ms of delay before the answer.
    expect(waits[5]! - waits[0]!).toBeGreaterThan(800);
    expect(await client.ok("login bo right")).toEqual(["logged in as bo (tracker 1)"]);
  }, 30_000);

  test("only a group's owner lists, accepts and rejects its requests", async () => {
    const cluster = await makeCluster({ trackers: 1 });
    await startTrackers(cluster);
    const [owner, member, asker] = [
      await startClient(cluster),
      await startClient(cluster),
      await startClient(cluster),
    ];
    for (const [c, name] of [
      [owner, "own"],
      [member, "mem"],
      [asker, "ask"],
    ] as const) {
      await c!.ok(`create_user ${name} pw`);
      await c!.ok(`login ${name} pw`);
    }
    await owner!.ok("create_group g");
    await member!.ok("join_group g");
    await owner!.ok("accept_request g mem");
    await asker!.ok("join_group g");
    const notOwner = 'error: only the owner of "g" (own)';
    expect((await member!.run("list_requests g")).err[0]).toStartWith(notOwner);
    expect((await member!.run("accept_request g ask")).err[0]).toStartWith(notOwner);
    expect((await asker!.run("accept_request g ask")).err[0]).toStartWith(notOwner);
    expect((await member!.run("reject_request g ask")).err[0]).toStartWith(notOwner);
    expect(await owner!.ok("list_requests g")).toEqual(["ask"]);
  }, 30_000);
});
