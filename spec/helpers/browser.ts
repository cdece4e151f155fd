// A headless Chromium for the web page tests, driven through Bun.WebView (Chrome DevTools over a
// pipe): installs Debian's chromium when missing, opens pages with a fresh profile, waits for page
// conditions, leaves a screenshot when a test fails. Test helper (never a spec file).
//
//   const page = await openPage(url);                 // a new view on a fresh profile
//   await page.fill("#login-form input[name=user]", "alice");
//   await page.waitFor("document.body.dataset.ready === 'true'");
//   await withScreenshot("web-download", page, async () => { ... });  // on failure: a PNG
//   afterEach(closeBrowser);                           // async: awaits the profile's removal
import { existsSync, mkdirSync, mkdtempSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const CHROMIUM = "/usr/bin/chromium";
/** Where failing tests leave their screenshots (and the test run its README screenshot). */
export const SCREENSHOT_DIR = join(tmpdir(), "p2p-web-screenshots");

const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

let profile: string | undefined;
const views = new Set<Bun.WebView>();

/** Installs Debian's chromium if it is missing; throws one line saying what is needed if it cannot. */
export function ensureChromium(): void {
  if (existsSync(CHROMIUM)) return;
  const apt = (args: string[]) =>
    Bun.spawnSync(["apt-get", ...args], {
      stdout: "ignore",
      stderr: "pipe",
      env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
    });
  const update = apt(["update", "-qq"]);
  const install = update.exitCode === 0 ? apt(["install", "-y", "-qq", "chromium"]) : update;
  if (!existsSync(CHROMIUM))
    throw new Error(
      `the web page tests need Debian's chromium at ${CHROMIUM}: run "apt-get update && apt-get install -y chromium" as root (apt-get said: ${install.stderr.toString().trim().split("\n").pop() ?? "nothing"})`,
    );
}

/** One page in the shared headless Chromium. */
export class Page {
  readonly view: Bun.WebView;

  constructor(view: Bun.WebView) {
    this.view = view;
  }

  /** Evaluates an expression in the page (one at a time per page). */
  eval<T>(expression: string): Promise<T> {
    return this.view.evaluate<T>(expression);
  }

  /** Polls `expression` until it is truthy; returns its value. */
  async waitFor<T>(expression: string, options: { timeoutMs?: number; what?: string } = {}): Promise<T> {
    const { timeoutMs = 15_000, what = expression } = options;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await this.view.evaluate<T>(expression);
      if (value) return value;
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await Bun.sleep(50);
    }
  }

  /** Clicks an input, clears it and types `text` (native events). */
  async fill(selector: string, text: string): Promise<void> {
    await this.view.click(selector);
    await this.view.evaluate(
      `(() => { const e = document.querySelector(${JSON.stringify(selector)}); e.select(); return true; })()`,
    );
    await this.view.press("Delete");
    await this.view.type(text);
  }

  click(selector: string): Promise<void> {
    return this.view.click(selector, { timeout: 15_000 });
  }

  /** The text of the first element matching `selector` ("" if none). */
  text(selector: string): Promise<string> {
    return this.view.evaluate<string>(
      `document.querySelector(${JSON.stringify(selector)})?.textContent ?? ""`,
    );
  }

  async screenshot(path: string): Promise<string> {
    mkdirSync(join(path, ".."), { recursive: true });
    await Bun.write(path, await this.view.screenshot({ format: "png" }));
    return path;
  }
}

/** Opens `url` in a new page of the shared browser (started on first use, with a fresh profile). */
export async function openPage(url: string, size = { width: 1100, height: 1400 }): Promise<Page> {
  ensureChromium();
  profile ??= mkdtempSync(join(tmpdir(), "p2p-chromium-"));
  const view = new Bun.WebView({
    ...size,
    backend: { type: "chrome", url: false, path: CHROMIUM, argv: [...FLAGS, `--user-data-dir=${profile}`] },
  });
  views.add(view);
  await view.navigate(url);
  return new Page(view);
}

/** Closes every page and the browser, and removes its profile (once Chromium stopped writing it). */
export async function closeBrowser(): Promise<void> {
  for (const view of views) view.close();
  views.clear();
  Bun.WebView.closeAll();
  const dir = profile;
  profile = undefined;
  if (dir) await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
}

/** Runs `body`; if it throws, saves a screenshot of `page` as `<name>.png` and says where. */
export async function withScreenshot(
  name: string,
  page: () => Page | undefined,
  body: () => Promise<void>,
): Promise<void> {
  try {
    await body();
  } catch (err) {
    const p = page();
    if (p) {
      const path = await p
        .screenshot(join(SCREENSHOT_DIR, `${name}-failed.png`))
        .catch(() => "none (the page is gone)");
      const message = err instanceof Error ? err.message : String(err);
      throw new Error(`${message}\nscreenshot of the page: ${path}`);
    }
    throw err;
  }
}
