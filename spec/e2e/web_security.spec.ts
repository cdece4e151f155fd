// The web page's defences, against the real client: DNS rebinding (Host), the token and its
// throttle, CSRF (token, Origin, cookie) on every state-changing call, the event stream's checks,
// the headers, and names from other people rendered as text in a real browser.
import { afterEach, describe, expect, test } from "bun:test";
import { closeBrowser, openPage, type Page, withScreenshot } from "../helpers/browser.ts";
import { type ClientProcess, startClient } from "../helpers/client_process.ts";
import { makeCluster, startTrackers } from "../helpers/cluster.ts";
import { stopAll } from "../helpers/processes.ts";
import { rawRequest, startWebClient, type WebClient } from "../helpers/web_client.ts";

afterEach(async () => {
  await closeBrowser();
  await stopAll();
});

/** Alice logged in on her terminal, with her page's cookie and CSRF token in hand. */
async function aliceWithSession(): Promise<{
  web: WebClient;
  alice: ClientProcess;
  cookie: string;
  csrf: string;
  host: string;
}> {
  const cluster = await makeCluster({ trackers: 1 });
  await startTrackers(cluster);
  const web = await startWebClient(cluster);
  const alice = web.client;
  await alice.ok("create_user alice pw-alice");
  await alice.ok("login alice pw-alice");
  const host = `127.0.0.1:${web.port}`;
  const exchange = await rawRequest(web.port, { path: `/?token=${web.token}`, headers: { Host: host } });
  expect(exchange.status).toBe(303);
  expect(exchange.headers.get("location")).toBe("/");
  const setCookie = exchange.headers.get("set-cookie") ?? "";
  expect(setCookie).toMatch(
    new RegExp(`^p2p_web_${web.port}=[0-9a-f]{48}; Path=/; HttpOnly; SameSite=Strict$`),
  );
  const cookie = setCookie.split(";")[0]!;
  const pageRes = await rawRequest(web.port, { headers: { Host: host, Cookie: cookie } });
  expect(pageRes.status).toBe(200);
  const csrf = /name="csrf-token" content="([0-9a-f]{48})"/.exec(pageRes.body)?.[1];
  if (!csrf) throw new Error(`no CSRF token in the page: ${pageRes.body.slice(0, 200)}`);
  return { web, alice, cookie, csrf, host };
}

const createGroup = JSON.stringify({ command: "create_group", args: ["forged"] });

describe("the web page's defences", () => {
  test("a wrong Host is refused on every path, even with the right token or cookie", async () => {
    const { web, cookie, host } = await aliceWithSession();
    for (const bad of [
      "evil.example",
      `evil.example:${web.port}`,
      "127.0.0.1:1",
      `localhost.evil.example:${web.port}`,
    ]) {
      for (const path of ["/", `/?token=${web.token}`, "/api/events", "/app.js"]) {
        const r = await rawRequest(web.port, { path, headers: { Host: bad, Cookie: cookie } });
        expect({ bad, path, status: r.status }).toEqual({ bad, path, status: 403 });
        expect(r.body).toContain("is not this page's address");
        expect(r.headers.get("set-cookie")).toBeUndefined();
      }
    }
    for (const good of [host, `localhost:${web.port}`, `[::1]:${web.port}`]) {
      const r = await rawRequest(web.port, { headers: { Host: good, Cookie: cookie } });
      expect({ good, status: r.status }).toEqual({ good, status: 200 });
    }
  }, 30_000);

  test("state-changing calls without the CSRF token, from another Origin or without the cookie change nothing", async () => {
    const { web, alice, cookie, csrf, host } = await aliceWithSession();
    const base = { Host: host, "Content-Type": "application/json" };
    const attempts: [string, Record<string, string>, number][] = [
      ["no CSRF token", { ...base, Cookie: cookie, Origin: `http://${host}` }, 403],
      [
        "a wrong CSRF token",
        { ...base, Cookie: cookie, Origin: `http://${host}`, "X-CSRF-Token": "0".repeat(48) },
        403,
      ],
      [
        "a foreign Origin",
        { ...base, Cookie: cookie, Origin: "http://evil.example", "X-CSRF-Token": csrf },
        403,
      ],
      [
        "a look-alike Origin",
        { ...base, Cookie: cookie, Origin: `http://${host}.evil.example`, "X-CSRF-Token": csrf },
        403,
      ],
      ["no Origin", { ...base, Cookie: cookie, "X-CSRF-Token": csrf }, 403],
      [
        "a cross-site fetch",
        {
          ...base,
          Cookie: cookie,
          Origin: `http://${host}`,
          "X-CSRF-Token": csrf,
          "Sec-Fetch-Site": "cross-site",
        },
        403,
      ],
      ["no cookie", { ...base, Origin: `http://${host}`, "X-CSRF-Token": csrf }, 401],
      [
        "a wrong cookie",
        {
          ...base,
          Cookie: `p2p_web_${web.port}=${"1".repeat(48)}`,
          Origin: `http://${host}`,
          "X-CSRF-Token": csrf,
        },
        401,
      ],
      [
        "a form's content type",
        {
          ...base,
          "Content-Type": "text/plain",
          Cookie: cookie,
          Origin: `http://${host}`,
          "X-CSRF-Token": csrf,
        },
        415,
      ],
    ];
    for (const [what, headers, status] of attempts) {
      const r = await rawRequest(web.port, {
        method: "POST",
        path: "/api/command",
        headers,
        body: createGroup,
      });
      expect({ what, status: r.status }).toEqual({ what, status });
      expect(r.body).toStartWith("refused: ");
    }
    expect(await alice.ok("list_groups")).toEqual([]);
    // The same call with all three goes through: the refusals above were the checks, not the call.
    const ok = await rawRequest(web.port, {
      method: "POST",
      path: "/api/command",
      headers: { ...base, Cookie: cookie, Origin: `http://${host}`, "X-CSRF-Token": csrf },
      body: createGroup,
    });
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body)).toEqual({ ok: true, lines: ["group forged created; you own it"] });
    expect(await alice.ok("list_groups")).toEqual(["forged owner=alice members=1 files=0"]);
  }, 30_000);

  test("the event stream and the API need the cookie and refuse foreign Origins; every response carries the headers", async () => {
    const { web, cookie, host } = await aliceWithSession();
    expect((await rawRequest(web.port, { path: "/api/events", headers: { Host: host } })).status).toBe(401);
    expect(
      (await rawRequest(web.port, { path: "/api/complete?path=/", headers: { Host: host } })).status,
    ).toBe(401);
    const foreign = await rawRequest(web.port, {
      path: "/api/events",
      headers: { Host: host, Cookie: cookie, Origin: "http://evil.example" },
    });
    expect(foreign.status).toBe(403);
    const crossSite = await rawRequest(web.port, {
      path: "/api/events",
      headers: { Host: host, Cookie: cookie, "Sec-Fetch-Site": "cross-site" },
    });
    expect(crossSite.status).toBe(403);
    // A navigation from another site (a link) gets the page only with the cookie, which
    // SameSite=Strict keeps off such navigations; framing is refused by the CSP.
    const linked = await rawRequest(web.port, { headers: { Host: host, "Sec-Fetch-Site": "cross-site" } });
    expect(linked.status).toBe(401);
    const locked = await rawRequest(web.port, { headers: { Host: host } });
    expect(locked.status).toBe(401);
    expect(locked.body).toContain("Use the link the client printed");
    expect(locked.body).not.toContain("csrf-token");
    const page = await rawRequest(web.port, { headers: { Host: host, Cookie: cookie } });
    for (const r of [page, locked, foreign]) {
      expect(r.headers.get("content-security-policy")).toContain("default-src 'self'");
      expect(r.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
      expect(r.headers.get("x-content-type-options")).toBe("nosniff");
      expect(r.headers.get("referrer-policy")).toBe("no-referrer");
      expect(r.headers.get("cache-control")).toBe("no-store");
    }
  }, 30_000);

  test("wrong tokens are throttled: after three, even the right one waits", async () => {
    const { web, host } = await aliceWithSession();
    for (let i = 0; i < 3; i++) {
      const r = await rawRequest(web.port, { path: `/?token=${"f".repeat(48)}`, headers: { Host: host } });
      expect(r.status).toBe(403);
      expect(r.headers.get("set-cookie")).toBeUndefined();
    }
    const fourth = await rawRequest(web.port, { path: "/?token=wrong", headers: { Host: host } });
    expect(fourth.status).toBe(403); // the fourth wrong one starts the wait
    const right = await rawRequest(web.port, { path: `/?token=${web.token}`, headers: { Host: host } });
    expect(right.status).toBe(429);
    expect(right.body).toContain("Too many wrong tokens");
    expect(right.headers.get("set-cookie")).toBeUndefined();
    await Bun.sleep(1_100); // the first wait is 1 s
    const later = await rawRequest(web.port, { path: `/?token=${web.token}`, headers: { Host: host } });
    expect(later.status).toBe(303);
  }, 30_000);

  test("names from other people render as text in the browser, and so do errors quoting what was typed", async () => {
    const cluster = await makeCluster({ trackers: 1 });
    await startTrackers(cluster);
    const { client: alice, url } = await startWebClient(cluster);
    await alice.ok("create_user alice pw-alice");
    await alice.ok("login alice pw-alice");
    const bob = await startClient(cluster);
    // Names cannot hold spaces or slashes (one word per argument), so this is the most HTML a name can carry.
    const evil = "<img_src=x_onerror=alert(1)><b>bold<b>";
    await bob.ok("create_user <script>bob pw");
    await bob.ok("login <script>bob pw");
    await bob.ok(`create_group ${evil}`);
    let page: Page | undefined;
    await withScreenshot(
      "web-xss",
      () => page,
      async () => {
        page = await openPage(url);
        const p = page;
        await p.eval("(window.alert = () => { window.__xss = true; }, true)");
        await p.waitFor(
          `document.querySelector('#groups tbody tr td')?.textContent === ${JSON.stringify(evil)}`,
          {
            what: "the group's name as text",
          },
        );
        expect(await p.text("#groups tbody tr td:nth-child(2)")).toBe("<script>bob");
        // Typed into the page, the exact classic payload comes back in the error line as text.
        const payload = "<img src=x onerror=alert(1)>";
        await p.fill("#create-group-form input[name=group]", payload);
        await p.click("#create-group-form button[type=submit]");
        await p.waitFor("document.querySelector('#messages li.error')");
        expect(await p.text("#messages li.error div")).toBe(
          `error: "${payload}" contains spaces: commands take one word per argument`,
        );
        await Bun.sleep(300); // an injected image would have failed to load and fired by now
        expect(await p.eval("document.querySelectorAll('main img, main script, main b').length")).toBe(0);
        expect(await p.eval("window.__xss === true")).toBe(false);
      },
    );
  }, 60_000);
});
