// spec/unit/web/server.spec.ts: the web server over a fake client: page commands reach the
// terminal's command line unchanged, the state is pushed when it changes, paths complete.
import { afterEach, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startWebServer, type WebServer } from "../../../lib/web/server.ts";
import type { CommandOutcome, WebBackend } from "../../../lib/web/state.ts";
import { freePort, waitUntil } from "../../helpers/wait.ts";

let server: WebServer | undefined;
const dirs: string[] = [];
afterEach(() => {
  server?.stop();
  server = undefined;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A client that answers list_groups from `groups` and records every other line. */
function fakeClient() {
  const ran: string[] = [];
  const logged: string[] = [];
  const fake: {
    user: string | undefined;
    groups: string[];
    ran: string[];
    logged: string[];
    listings: number;
  } = {
    user: "alice",
    groups: ["g1 owner=alice members=1 files=0"],
    ran,
    logged,
    listings: 0,
  };
  const backend: WebBackend = {
    peer: "127.0.0.1:5000",
    run: async (line): Promise<CommandOutcome> => {
      if (line === "list_groups") {
        fake.listings++;
        return { ok: true, lines: fake.groups };
      }
      if (line.startsWith("list_requests ")) return { ok: true, lines: ["bob"] };
      if (line.startsWith("list_files ")) return { ok: true, lines: ["film.bin size=10 seeders=1"] };
      ran.push(line);
      return line.startsWith("join_group")
        ? { ok: false, error: "no such group" }
        : { ok: true, lines: [`did ${line}`] };
    },
    user: () => fake.user,
    tracker: () => ({ no: 1, host: "127.0.0.1", port: 7000 }),
    downloads: () => [],
    shares: () => [],
    log: (line) => logged.push(line),
  };
  return { fake, backend };
}

async function start(backend: WebBackend) {
  const port = freePort();
  server = startWebServer({ address: { host: "127.0.0.1", port }, backend, refreshMs: 50 });
  const base = `http://127.0.0.1:${port}`;
  const exchanged = await fetch(server.url, { redirect: "manual" });
  const cookie = (exchanged.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
  const page = await (await fetch(`${base}/`, { headers: { Cookie: cookie } })).text();
  const csrf = /name="csrf-token" content="([0-9a-f]+)"/.exec(page)?.[1] ?? "";
  const post = (body: unknown) =>
    fetch(`${base}/api/command`, {
      method: "POST",
      headers: { Cookie: cookie, Origin: base, "X-CSRF-Token": csrf, "Content-Type": "application/json" },
      body: JSON.stringify(body),
    }).then((r) => r.json());
  return { base, cookie, csrf, post };
}

/** Reads server-sent `state` events from a stream. */
async function* events(body: ReadableStream<Uint8Array>): AsyncGenerator<Record<string, unknown>> {
  const decoder = new TextDecoder();
  let buffer = "";
  for await (const chunk of body) {
    buffer += decoder.decode(chunk);
    for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block.split("\n").find((l) => l.startsWith("data: "));
      if (block.startsWith("event: state") && data) yield JSON.parse(data.slice(6));
    }
  }
}

describe("startWebServer", () => {
  test("runs a page command as the terminal's command line and returns its outcome", async () => {
    const { fake, backend } = fakeClient();
    const { post } = await start(backend);
    expect(await post({ command: "create_group", args: ["g2"] })).toEqual({
      ok: true,
      lines: ["did create_group g2"],
    });
    expect(await post({ command: "join_group", args: ["nope"] })).toEqual({
      ok: false,
      error: "no such group",
    });
    expect(fake.ran).toEqual(["create_group g2", "join_group nope"]);
    expect(fake.logged).toEqual(["web: create_group g2", "web: join_group nope"]);
  });

  test("refuses quit, arguments with spaces and malformed bodies without running anything", async () => {
    const { fake, backend } = fakeClient();
    const { post } = await start(backend);
    expect(await post({ command: "quit", args: [] })).toEqual({
      ok: false,
      error: "quit is a terminal command: type it there",
    });
    expect(await post({ command: "create_group", args: ["a b"] })).toEqual({
      ok: false,
      error: '"a b" contains spaces: commands take one word per argument',
    });
    expect(await post({ command: "create_group", args: [""] })).toEqual({
      ok: false,
      error: "create_group: fill in every field",
    });
    expect(await post({ command: "create_group", args: [1] })).toMatchObject({ ok: false });
    expect(await post({ command: "Create Group", args: [] })).toMatchObject({ ok: false });
    expect(await post(["create_group"])).toMatchObject({ ok: false });
    expect(fake.ran).toEqual([]);
  });

  test("never logs a password typed into the page", async () => {
    const { fake, backend } = fakeClient();
    const { post } = await start(backend);
    await post({ command: "login", args: ["alice", "s3cret"] });
    await post({ command: "create_user", args: ["bob", "hunter2"] });
    expect(fake.ran).toEqual(["login alice s3cret", "create_user bob hunter2"]);
    expect(fake.logged).toEqual(["web: login alice ***", "web: create_user bob ***"]);
  });

  test("pushes the state at once, then again when it changes, with requests and files of owned groups", async () => {
    const { fake, backend } = fakeClient();
    const { base, cookie } = await start(backend);
    const abort = new AbortController();
    const res = await fetch(`${base}/api/events`, { headers: { Cookie: cookie }, signal: abort.signal });
    expect(res.headers.get("content-type")).toStartWith("text/event-stream");
    const stream = events(res.body!);
    const first = (await stream.next()).value;
    expect(first).toMatchObject({
      user: "alice",
      tracker: "tracker 1 (127.0.0.1:7000)",
      groups: [{ id: "g1", owner: "alice", members: 1, files: 0 }],
      requests: { g1: ["bob"] },
      files: { g1: [{ name: "film.bin", sizeBytes: 10, seeders: 1 }] },
      failover: null,
    });
    fake.groups = ["g1 owner=alice members=2 files=0"];
    const second = (await stream.next()).value;
    expect(second).toMatchObject({ groups: [{ id: "g1", members: 2 }] });
    abort.abort();
  });

  test("completes paths on this machine: directories end with a slash, hidden files only when asked", async () => {
    const { backend } = fakeClient();
    const { base, cookie } = await start(backend);
    const dir = mkdtempSync(join(tmpdir(), "p2p-complete-"));
    dirs.push(dir);
    mkdirSync(join(dir, "films"));
    writeFileSync(join(dir, "film.bin"), "x");
    writeFileSync(join(dir, ".hidden"), "x");
    const complete = async (path: string): Promise<unknown> =>
      (
        await fetch(`${base}/api/complete?path=${encodeURIComponent(path)}`, { headers: { Cookie: cookie } })
      ).json();
    expect(await complete(`${dir}/fil`)).toEqual({ entries: [`${dir}/film.bin`, `${dir}/films/`] });
    expect(await complete(`${dir}/`)).toEqual({ entries: [`${dir}/film.bin`, `${dir}/films/`] });
    expect(await complete(`${dir}/.h`)).toEqual({ entries: [`${dir}/.hidden`] });
    expect(await complete(`${dir}/nothing/x`)).toEqual({ entries: [] });
  });

  test("re-reads a long group list less often than it pushes, and at once after a page command", async () => {
    const { fake, backend } = fakeClient();
    fake.groups = Array.from({ length: 5_000 }, (_, i) => `g${i} owner=bob members=1 files=0`); // kept 5 s
    const { base, cookie, post } = await start(backend);
    const abort = new AbortController();
    const res = await fetch(`${base}/api/events`, { headers: { Cookie: cookie }, signal: abort.signal });
    const stream = events(res.body!);
    expect((await stream.next()).value).toMatchObject({
      groups: expect.arrayContaining([{ id: "g0", owner: "bob", members: 1, files: 0 }]),
    });
    await Bun.sleep(300); // six refreshes at 50 ms
    expect(fake.listings).toBe(1);
    await post({ command: "create_group", args: ["mine"] });
    await waitUntil(() => fake.listings === 2, { what: "the list re-read after the command" });
    abort.abort();
  });
});
