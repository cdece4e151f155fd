// Files.afterLogin against a stub tracker link: a re-share that no tracker answered at login is
// tried again in the background while the session lasts, and never after it ended.
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { LoggedIn } from "../../../lib/client/app.ts";
import { ClientStore } from "../../../lib/client/client_store.ts";
import { Files } from "../../../lib/client/files.ts";
import type { TrackerLink } from "../../../lib/client/tracker_link.ts";
import { Catalog } from "../../../lib/peer/catalog.ts";
import { TEST_IDENTITY } from "../../helpers/identity.ts";
import { waitUntil } from "../../helpers/wait.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A client's Files with one share in its store, and a link whose "share" answers as `answer` says. */
function setUp(answer: (attempt: number) => "silence" | "ok" | string) {
  const dir = mkdtempSync(join(tmpdir(), "files-restore-"));
  dirs.push(dir);
  const path = join(dir, "a.bin");
  writeFileSync(path, new Uint8Array(1000));
  const store = new ClientStore(join(dir, "data"));
  store.putShare({
    user: "alice",
    group: "g",
    name: "a.bin",
    path,
    sizeBytes: 1000,
    mtimeMs: statSync(path).mtimeMs,
    sha1: new Uint8Array(20),
    pieces: new Uint8Array(20),
  });
  const catalog = new Catalog();
  const logged: string[] = [];
  const files = new Files({
    catalog,
    store,
    selfPeer: "127.0.0.1:1",
    identity: TEST_IDENTITY,
    log: (line) => logged.push(line),
    progress: () => {},
    restoreRetryMs: 20,
  });
  let shares = 0;
  const link = {
    newRid: () => `r${shares}`,
    request: async (body: { t: string }) => {
      if (body.t !== "share") throw new Error(`unexpected ${body.t}`);
      const how = answer(++shares);
      if (how === "silence")
        throw new Error("no tracker reachable: check that a tracker in tracker_info.txt is running");
      return { reply: how === "ok" ? { ok: true, data: {} } : { ok: false, reason: how }, tracker: 1 };
    },
  } as unknown as TrackerLink;
  const session: LoggedIn = { user: "alice", link, sessionId: "s" };
  return { files, catalog, logged, session, shares: () => shares };
}

describe("Files after login", () => {
  test("a re-share no tracker answered is tried again until one does, then served", async () => {
    const t = setUp((n) => (n < 3 ? "silence" : "ok"));
    expect(await t.files.afterLogin(t.session)).toEqual([
      "warning: not re-sharing a.bin in g yet: no tracker reachable: check that a tracker in tracker_info.txt is running; trying again every 0.02 s",
    ]);
    expect(t.catalog.get("g", "a.bin")).toBeUndefined();
    await waitUntil(() => t.catalog.get("g", "a.bin") !== undefined, {
      timeoutMs: 2_000,
      what: "the retried re-share",
    });
    expect(t.shares()).toBe(3);
    expect(t.logged).toEqual(["re-sharing a.bin in g"]);
    await Bun.sleep(100);
    expect(t.shares()).toBe(3); // done: no more requests
  });

  test("a tracker's refusal is final, at login and in a retry", async () => {
    const refused = setUp(() => "you are not a member of g: run join_group g and ask its owner to accept");
    expect(await refused.files.afterLogin(refused.session)).toEqual([
      "warning: not re-sharing a.bin in g: you are not a member of g: run join_group g and ask its owner to accept",
    ]);
    const later = setUp((n) => (n === 1 ? "silence" : "no such group g"));
    await later.files.afterLogin(later.session);
    await waitUntil(() => later.logged.length > 0, { timeoutMs: 2_000, what: "the retry's outcome" });
    expect(later.logged).toEqual(["not re-sharing a.bin in g: no such group g"]);
    await Bun.sleep(100);
    expect([refused.shares(), later.shares()]).toEqual([1, 2]);
    expect(later.catalog.get("g", "a.bin")).toBeUndefined();
  });

  test("retries end with the session: nothing is served after a logout", async () => {
    const t = setUp(() => "silence");
    await t.files.afterLogin(t.session);
    await waitUntil(() => t.shares() >= 2, { timeoutMs: 2_000, what: "a retry" });
    await t.files.beforeLogout();
    const asked = t.shares();
    await Bun.sleep(100);
    expect(t.shares()).toBeLessThanOrEqual(asked + 1); // at most the one in flight
    expect(t.catalog.get("g", "a.bin")).toBeUndefined();
  });
});
