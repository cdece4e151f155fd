// Benchmark of the client's web page: its weight (JavaScript + CSS gzipped, target < 60 KB) and
// its first render on loopback (target < 300 ms), in headless Chromium, against a reference page
// of the same shape (HTML + one script + one stylesheet, no data) served by Bun in this process.
//   bun bench/web_page.ts [--runs=N]
// Needs ./tracker and ./client (npm run build) and Debian's chromium (installed when missing).
// Binds 127.0.0.1 only.
import { gzipSync } from "bun";
import { PAGE_CSS, PAGE_HTML, PAGE_JS } from "../lib/web/page/assets.ts";
import { closeBrowser, openPage, type Page } from "../spec/helpers/browser.ts";
import { makeCluster, startTrackers } from "../spec/helpers/cluster.ts";
import { stopAll } from "../spec/helpers/processes.ts";
import { startWebClient } from "../spec/helpers/web_client.ts";

const runs = Number(process.argv.find((a) => a.startsWith("--runs="))?.slice(7) ?? 20);
const WEIGHT_BOUND_BYTES = 60 * 1024;
const RENDER_BOUND_MS = 300;

function gz(text: string): number {
  return gzipSync(new TextEncoder().encode(text)).byteLength;
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

/** Navigates `runs` times and reads the time of the first render (ms since navigation start). */
async function firstRenders(page: Page, url: string, ready: string): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    await page.view.navigate(url);
    times.push(await page.waitFor<number>(`${ready} && window.__firstRenderMs`, { timeoutMs: 10_000 }));
  }
  return times.sort((a, b) => a - b);
}

const js = gz(PAGE_JS);
const css = gz(PAGE_CSS);
const html = gz(PAGE_HTML);
console.log("web page weight (gzip -6, as served uncompressed over loopback):");
console.log(`  app.js   ${PAGE_JS.length} B raw, ${js} B gzipped`);
console.log(`  app.css  ${PAGE_CSS.length} B raw, ${css} B gzipped`);
console.log(`  page     ${PAGE_HTML.length} B raw, ${html} B gzipped`);
console.log(
  `  JS + CSS ${js + css} B gzipped = ${((100 * (js + css)) / WEIGHT_BOUND_BYTES).toFixed(1)}% of the 60 KB budget`,
);

// The reference: the same three requests with nothing to fetch from a tracker and nothing to draw.
const reference = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  fetch(req) {
    const path = new URL(req.url).pathname;
    if (path === "/r.js")
      return new Response(
        "window.__firstRenderMs = performance.now(); document.body.dataset.ready = 'true';",
        { headers: { "Content-Type": "text/javascript" } },
      );
    if (path === "/r.css")
      return new Response("body{font:15px sans-serif}", { headers: { "Content-Type": "text/css" } });
    return new Response(
      '<!doctype html><meta charset="utf-8"><link rel="stylesheet" href="/r.css"><script src="/r.js" defer></script><body><p>reference</p>',
      { headers: { "Content-Type": "text/html" } },
    );
  },
});

try {
  const cluster = await makeCluster({ trackers: 1 });
  await startTrackers(cluster);
  const { client: alice, url } = await startWebClient(cluster);
  await alice.ok("create_user alice pw-alice");
  await alice.ok("login alice pw-alice");
  for (let i = 1; i <= 10; i++) await alice.ok(`create_group group-${i}`);
  const refUrl = `http://127.0.0.1:${reference.port}/`;
  const ready = "document.body.dataset.ready === 'true'";
  const page = await openPage(refUrl); // starts the browser
  await firstRenders(page, refUrl, ready); // warm-up: browser caches, JIT, connections
  const ref = await firstRenders(page, refUrl, ready);
  // Cold: the printed link (token -> cookie -> redirect), no state read yet since the client started.
  await page.view.navigate(url);
  const cold = await page.waitFor<number>(`${ready} && window.__firstRenderMs`, { timeoutMs: 10_000 });
  const pageUrl = new URL(url);
  pageUrl.search = "";
  // Reloads: the server draws its last pushed state at once, then pushes a fresh one.
  const ours = await firstRenders(page, pageUrl.toString(), ready);
  const fmt = (t: number[]) =>
    `median ${quantile(t, 0.5).toFixed(1)} ms, p90 ${quantile(t, 0.9).toFixed(1)} ms, max ${t.at(-1)?.toFixed(1)} ms`;
  console.log(`first render (navigation start -> logged-in state with 10 groups drawn), ${runs} runs each:`);
  console.log(`  our page, first open of the printed link (cold) ${cold.toFixed(1)} ms (1 run)`);
  console.log(`  our page, reloads  ${fmt(ours)}`);
  console.log(`  reference page    ${fmt(ref)} (HTML + 1 script + 1 stylesheet, no data)`);
  console.log(
    `  ratio ours/reference (median) ${(quantile(ours, 0.5) / quantile(ref, 0.5)).toFixed(2)}; p90 = ${((100 * quantile(ours, 0.9)) / RENDER_BOUND_MS).toFixed(0)}% of the 300 ms budget`,
  );
} finally {
  await closeBrowser();
  reference.stop(true);
  await stopAll();
}
