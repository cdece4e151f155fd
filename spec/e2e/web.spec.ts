// The web page in a real headless Chromium: alice drives her client from the page while bob
// types commands; the page shows the join request live, accepts it, downloads bob's file and
// shows the bar at 100% with the [C] details and the peers.
import { afterEach, describe, expect, test } from "bun:test";
import { copyFileSync } from "node:fs";
import { join } from "node:path";
import { closeBrowser, openPage, type Page, SCREENSHOT_DIR, withScreenshot } from "../helpers/browser.ts";
import {
  type ClientProcess,
  makeCluster,
  makeTempDir,
  settle,
  startClient,
  startTrackers,
  stopAll,
} from "../helpers/cluster.ts";
import { MiB, randomFile, sha1File, tempPath } from "../helpers/files.ts";
import { startWebClient } from "../helpers/web_client.ts";

afterEach(async () => {
  closeBrowser();
  await stopAll();
});

describe("the web page", () => {
  test("alice creates a group, accepts bob's live request and downloads his 64 MiB file from the page", async () => {
    const cluster = await makeCluster({ trackers: 2 });
    await startTrackers(cluster);
    const { client: alice, url, port } = await startWebClient(cluster, { order: [1, 2] });
    expect(url).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${port}/\\?token=[0-9a-f]{48}$`));
    const bob: ClientProcess = await startClient(cluster, { order: [2, 1] });
    await bob.ok("create_user bob pw-bob");
    await bob.ok("login bob pw-bob");

    let page: Page | undefined;
    await withScreenshot(
      "web-download",
      () => page,
      async () => {
        page = await openPage(url);
        const p = page;
        // The token went for a cookie and left the address bar.
        expect(p.view.url).toBe(`http://127.0.0.1:${port}/`);
        await p.waitFor("document.body.dataset.ready === 'true'", { what: "the first render" });
        expect(await p.text("#who")).toContain("not logged in");

        await p.fill("#login-form input[name=user]", "alice");
        await p.fill("#login-form input[name=pass]", "pw-alice");
        await p.click("#create-user");
        await p.waitFor("document.querySelector('#messages li')?.textContent.includes('user alice created')");
        await p.click("#login-form button[type=submit]");
        await p.waitFor("document.getElementById('who').textContent.startsWith('alice on')", {
          what: "login",
        });

        await p.fill("#create-group-form input[name=group]", "g");
        await p.click("#create-group-form button[type=submit]");
        await p.waitFor("document.querySelector('#groups tr[data-group=\"g\"]')", {
          what: "group g in the list",
        });
        // The terminal drives the same client: it sees the page's login and group.
        expect(await alice.ok("whoami")).toEqual([expect.stringMatching(/^alice on /)]);
        expect(await alice.ok("list_groups")).toEqual(["g owner=alice members=1 files=0"]);

        // Bob asks through tracker 2; the request reaches alice's inbox with no reload.
        await p.eval("(window.__sameDocument = true)");
        await settle(cluster);
        await bob.ok("join_group g");
        await p.waitFor("document.querySelector('[data-request=\"g/bob\"]')", {
          what: "bob's request in the inbox",
          timeoutMs: 20_000,
        });
        expect(await p.eval("window.__sameDocument === true")).toBe(true);
        expect(await p.text("#inbox-count")).toBe("1 request");
        await p.click('[data-request="g/bob"] button:first-of-type'); // Accept
        await p.waitFor(
          "document.querySelector('#messages li')?.textContent.includes('bob is now a member of g')",
        );
        await p.waitFor("!document.querySelector('[data-request=\"g/bob\"]')", {
          what: "the inbox to empty",
        });

        // Bob shares 64 MiB; it shows in the group's files; alice downloads it from the page.
        await settle(cluster);
        const source = await randomFile(await tempPath("film.bin"), 64 * MiB);
        await bob.ok(`upload_file ${source} g`);
        await p.waitFor('document.querySelector(\'[data-files="g"] tr[data-file="film.bin"]\')', {
          what: "film.bin in g's files",
          timeoutMs: 20_000,
        });
        expect(await p.text('[data-files="g"] tr[data-file="film.bin"]')).toContain("64.0 MiB");
        await p.click('[data-files="g"] tr[data-file="film.bin"] button');
        const destDir = await makeTempDir("p2p-web-dest-");
        await p.fill("#download-form input[name=dest]", destDir);
        await p.click("#download-form button[type=submit]");
        await p.waitFor("document.querySelector('[data-download=\"g/film.bin\"]')", {
          what: "the download card",
        });
        const card = '[data-download="g/film.bin"]';
        await p.waitFor(`document.querySelector('${card}').dataset.state === 'C'`, {
          what: "the [C] state",
          timeoutMs: 60_000,
        });
        expect(await p.eval(`document.querySelector('${card} progress').value`)).toBe(100);
        expect(await p.text(`${card} .percent`)).toBe("100%");
        const line = await p.text(`${card} .line`);
        expect(line).toMatch(
          /^\[C\] \[g\] film\.bin -> .*film\.bin \(64\.0 MiB in [\d.]+ s, 0 pieces resumed, \d+ fetched twice, 0 failed their check\)$/,
        );
        // Bob's peer delivered all 128 pieces; the piece map has no gap.
        const peer = await p.eval<{ text: string; delivered: string }>(
          `(() => { const r = document.querySelector('${card} tr[data-peer="${bob.peer}"]'); return { text: r.textContent, delivered: r.children[3].textContent }; })()`,
        );
        expect(peer.text).toContain(bob.peer);
        expect(peer.text).toContain("128/128");
        expect(peer.delivered).toStartWith("128 ");
        expect(await sha1File(join(destDir, "film.bin"))).toBe(await sha1File(source));
        // The terminal shows the same download.
        expect(await alice.ok("show_downloads")).toEqual([line]);

        const shot = await p.screenshot(join(SCREENSHOT_DIR, "web.png"));
        if (process.env.WEB_SCREENSHOT) copyFileSync(shot, process.env.WEB_SCREENSHOT);
      },
    );
  }, 120_000);
});
