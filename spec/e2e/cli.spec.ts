// spec/e2e/cli.spec.ts: the compiled ./client's command line and piped stdin: no prompt,
// one `error: ` line per failed command, logout at EOF or quit, exit status 2 on bad start-up.
import { afterEach, describe, expect, test } from "bun:test";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { startClient } from "../helpers/client_process.ts";
import { makeCluster, settle } from "../helpers/cluster.ts";
import { runToExit, stopAll } from "../helpers/processes.ts";
import { startTracker } from "../helpers/tracker_process.ts";
import { freePort } from "../helpers/wait.ts";

afterEach(stopAll);

describe("client in piped mode", () => {
  test("prints no prompt and ignores blank lines and CRLF when stdin is a pipe", async () => {
    const cluster = await makeCluster({ trackers: 1 }); // no tracker needed: nothing here asks one
    const peer = `127.0.0.1:${freePort()}`;
    const r = await runToExit("client", [peer, cluster.infoPath, "--data-dir", join(cluster.dir, "c")], {
      stdin: "help whoami\n\n   \nwhoami\r\nhelp quit",
    });
    expect(r).toEqual({
      exitCode: 0,
      stdout: [
        "whoami: who is logged in, through which tracker",
        `not logged in; peer address ${peer}; no tracker connected right now`,
        "quit: log out and exit (also: exit, end of input)",
        "",
      ].join("\n"),
      stderr: "",
    });
  }, 30_000);

  test("prints one error line for an unknown command and carries on", async () => {
    const cluster = await makeCluster({ trackers: 1 });
    const client = await startClient(cluster);
    expect(await client.run("frobnicate now")).toEqual({
      out: [],
      err: ['error: unknown command "frobnicate": type help for the list of commands'],
      log: [],
    });
    expect(await client.run("LOGIN a b")).toEqual({
      out: [],
      err: ['error: unknown command "LOGIN": type help for the list of commands'],
      log: [],
    });
    expect(await client.run("help frobnicate")).toEqual({
      out: [],
      err: ['error: unknown command "frobnicate": type help for the list'],
      log: [],
    });
    expect(await client.run("whoami")).toEqual({
      out: [`not logged in; peer address ${client.peer}; no tracker connected right now`],
      err: [],
      log: [],
    });
    expect(await client.close()).toBe(0);
  }, 30_000);

  test("prints one error line with the command's usage for wrong arguments", async () => {
    const cluster = await makeCluster({ trackers: 1 });
    const client = await startClient(cluster);
    const cases: [string, string][] = [
      ["create_user alice", "error: usage: create_user <user_id> <passwd>"],
      ["create_user alice pw extra", "error: usage: create_user <user_id> <passwd>"],
      ["login", "error: usage: login <user_id> <passwd>"],
      ["logout now", "error: usage: logout"],
      ["create_group", "error: usage: create_group <group_id>"],
      ["join_group a b", "error: usage: join_group <group_id>"],
      ["leave_group", "error: usage: leave_group <group_id>"],
      ["list_requests", "error: usage: list_requests <group_id>"],
      ["accept_request g", "error: usage: accept_request <group_id> <user_id>"],
      ["reject_request g", "error: usage: reject_request <group_id> <user_id>"],
      ["list_groups all", "error: usage: list_groups"],
      ["list_files", "error: usage: list_files <group_id>"],
      ["upload_file f", "error: usage: upload_file <file_path> <group_id>"],
      ["download_file g f", "error: usage: download_file <group_id> <file_name> <destination_path>"],
      ["stop_share g", "error: usage: stop_share <group_id> <file_name>"],
      ["show_downloads x", "error: usage: show_downloads"],
      ["quit now", "error: usage: quit"],
      ["create_group a/b", 'error: group_id "a/b" must not contain / or \\: usage: create_group <group_id>'],
      ["create_user .. pw", 'error: user_id ".." is not a name: usage: create_user <user_id> <passwd>'],
      [
        `create_user ${"u".repeat(256)} pw`,
        `error: user_id "${"u".repeat(40)}" longer than 255 bytes: usage: create_user <user_id> <passwd>`,
      ],
    ];
    for (const [line, error] of cases) {
      const r = await client.run(line);
      expect({ line, out: r.out, err: r.err }).toEqual({ line, out: [], err: [error] });
    }
    // Well-formed, but not allowed yet: still one line, and it names what to do.
    const r = await client.run("create_group g");
    expect(r).toEqual({ out: [], err: ["error: not logged in: run login <user_id> <passwd>"], log: [] });
    expect(client.running).toBe(true); // "quit now" did not quit
    expect(await client.close()).toBe(0);
  }, 30_000);

  test("logs out and exits 0 at end of input, on quit and on exit", async () => {
    const cluster = await makeCluster({ trackers: 1 });
    const t1 = await startTracker(cluster, 1);
    const setup = await startClient(cluster);
    await setup.ok("create_user alice pw");
    expect(await setup.close()).toBe(0);
    for (const how of ["eof", "quit", "exit"] as const) {
      const client = await startClient(cluster);
      expect(await client.run("login alice pw")).toEqual({
        out: ["logged in as alice (tracker 1)"],
        err: [],
        log: [],
      });
      expect((await t1.status()).sessions).toBe(1);
      const code = how === "eof" ? await client.endInput() : await client.close({ command: how });
      expect({ how, code }).toEqual({ how, code: 0 });
      await settle(cluster);
      expect({ how, sessions: (await t1.status()).sessions }).toEqual({ how, sessions: 0 });
      expect(client.stdout.text()).not.toContain(">");
    }
  }, 30_000);
});

describe("client start-up", () => {
  test("exits 2 naming the problem for a bad peer address", async () => {
    const cluster = await makeCluster({ trackers: 1 });
    const cases: [string, string][] = [
      ["127.0.0.1:99999", 'error: peer address: port "99999" is not an integer in 1..65535'],
      ["127.0.0.1", 'error: peer address: expected "IP PORT" or "IP:PORT": got "127.0.0.1"'],
      ["300.1.1.1:5000", 'error: peer address: "300.1.1.1" is not an IPv4 address or host name'],
    ];
    for (const [peer, error] of cases) {
      const r = await runToExit("client", [peer, cluster.infoPath], { cwd: cluster.dir });
      expect({ peer, exitCode: r.exitCode, stderr: r.stderr.trim(), stdout: r.stdout }).toEqual({
        peer,
        exitCode: 2,
        stderr: error,
        stdout: "",
      });
    }
  }, 30_000);

  test("exits 2 for a missing, empty or malformed tracker_info.txt", async () => {
    const cluster = await makeCluster({ trackers: 1 });
    const peer = `127.0.0.1:${freePort()}`;
    const missing = join(cluster.dir, "missing.txt");
    const empty = join(cluster.dir, "empty.txt");
    const bad = join(cluster.dir, "bad.txt");
    await writeFile(empty, "# no trackers yet\n\n");
    await writeFile(bad, "127.0.0.1 9001\n127.0.0.1 9002 extra\n");
    const cases: [string, string][] = [
      [missing, `error: cannot read ${missing}: check the path`],
      [empty, 'error: tracker_info.txt lists no tracker: add a line like "127.0.0.1 9001"'],
      [
        bad,
        'error: tracker_info.txt line 2: "extra" is not a tracker id (32 base32 characters, as ./tracker tracker_info.txt <no> --id prints)',
      ],
    ];
    for (const [info, error] of cases) {
      const r = await runToExit("client", [peer, info], { cwd: cluster.dir });
      expect({ info, exitCode: r.exitCode, stderr: r.stderr.trim() }).toEqual({
        info,
        exitCode: 2,
        stderr: error,
      });
    }
  }, 30_000);

  test("--help prints the usage and every option, and exits 0", async () => {
    const cluster = await makeCluster({ trackers: 1 });
    const r = await runToExit("client", ["--help"], { cwd: cluster.dir });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain("usage: ./client <IP>:<PORT> tracker_info.txt [--data-dir DIR]");
    expect(r.stdout).toContain("--data-dir DIR");
    expect(r.stderr).toBe("");
  }, 30_000);

  test("exits 2 with the usage when arguments are missing or unknown", async () => {
    const cluster = await makeCluster({ trackers: 1 });
    for (const args of [[], ["127.0.0.1:5000"], ["127.0.0.1:5000", cluster.infoPath, "--bogus"]]) {
      const r = await runToExit("client", args, { cwd: cluster.dir });
      expect({ args, exitCode: r.exitCode }).toEqual({ args, exitCode: 2 });
      expect(r.stderr).toContain("usage: ./client <IP>:<PORT> tracker_info.txt [--data-dir DIR]");
      expect(r.stderr.trim().split("\n").length).toBe(1);
    }
  }, 30_000);
});
