// Shell: the client's web page over Bun.serve: the token-for-cookie exchange, the embedded page,
// the event stream of the page's state, and page commands run through the terminal's commands.
import { messageOf } from "../errors.ts";
import { commandLine, commandLogLine, parseCommandBody } from "./command_body.ts";
import { completePath } from "./complete_path.ts";
import { GroupListCache } from "./listing.ts";
import { PAGE_CSS, PAGE_HTML, PAGE_JS } from "./page/assets.ts";
import {
  allowedHosts,
  COMMON_HEADERS,
  cookieName,
  fetchSiteProblem,
  hostPort,
  hostProblem,
  originProblem,
  readCookie,
  sameSecret,
  sessionCookie,
  TokenThrottle,
  type WebAddress,
} from "./security.ts";
import { FailoverWatch, type PageState, readState, type WebBackend } from "./state.ts";

/** Options of startWebServer; the timings have defaults. */
export interface WebServerOptions {
  address: WebAddress;
  backend: WebBackend;
  /** How often the state is read and pushed while a page is open (never faster: tracker load). */
  refreshMs?: number;
  /** A comment line on idle event streams, so proxies and tunnels keep them open. */
  keepAliveMs?: number;
}

/** A running web page server. */
export interface WebServer {
  /** The URL to open, with the token. */
  url: string;
  stop(): void;
}

/** Sessions kept (browsers that exchanged the token); the oldest goes first. */
const MAX_SESSIONS = 32;
/** A page command is a few names: anything bigger is not from the page. */
const MAX_BODY_BYTES = 16 * 1024;
/** How old a pushed state may be to be drawn at once by a page that connects. */
const STATE_CACHE_MS = 10_000;
const MAX_CACHED_STATES = 16;

interface Stream {
  send(text: string): void;
  open: string[];
  last: string;
}

function randomHex(bytes: number): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(bytes))).toString("hex");
}

/** Starts serving; throws if the address is taken. */
export function startWebServer(options: WebServerOptions): WebServer {
  const { address, backend } = options;
  const refreshMs = options.refreshMs ?? 1_000;
  const keepAliveMs = options.keepAliveMs ?? 15_000;
  const token = randomHex(24);
  const sessions = new Map<string, string>(); // cookie value -> CSRF token
  const throttle = new TokenThrottle();
  const failover = new FailoverWatch();
  const groups = new GroupListCache();
  const streams = new Set<Stream>();
  /** The last state pushed per set of open groups: a page that (re)connects draws it at once. */
  const lastState = new Map<string, { text: string; atMs: number }>();
  const cookie = cookieName(address.port);
  let refreshing = false;
  let again = false;

  const respond = (
    body: ConstructorParameters<typeof Response>[0],
    status: number,
    headers: Record<string, string> = {},
  ) => new Response(body, { status, headers: { ...COMMON_HEADERS, ...headers } });
  const refuse = (status: number, reason: string) =>
    respond(`refused: ${reason}\n`, status, { "Content-Type": "text/plain; charset=utf-8" });
  const json = (value: unknown, status = 200) =>
    respond(JSON.stringify(value), status, { "Content-Type": "application/json" });

  /** Reads and pushes the state to every open stream whose view changed. */
  const refresh = async (): Promise<void> => {
    if (refreshing) {
      again = true;
      return;
    }
    refreshing = true;
    try {
      const byOpen = new Map<string, Promise<PageState>>();
      for (const s of streams) {
        const key = s.open.join(" ");
        let state = byOpen.get(key);
        if (!state) {
          state = readState(backend, { open: s.open, failover, groups });
          byOpen.set(key, state);
        }
        const text = JSON.stringify(await state);
        lastState.delete(key); // re-inserted last: the map's first key is the oldest
        lastState.set(key, { text, atMs: Date.now() });
        const oldest = lastState.keys().next();
        if (lastState.size > MAX_CACHED_STATES && !oldest.done) lastState.delete(oldest.value);
        if (text !== s.last) {
          s.last = text;
          s.send(`event: state\ndata: ${text}\n\n`);
        }
      }
    } catch (err) {
      backend.log(`web: cannot read the page's state: ${messageOf(err)}`);
    } finally {
      refreshing = false;
    }
    if (again) {
      again = false;
      void refresh();
    }
  };
  const timer = setInterval(() => {
    if (streams.size > 0) void refresh();
  }, refreshMs);
  const keepAlive = setInterval(() => {
    for (const s of streams) s.send(": keep-alive\n\n");
  }, keepAliveMs);

  const sessionOf = (req: Request): string | undefined => {
    const value = readCookie(req.headers.get("cookie"), cookie);
    return value !== undefined && sessions.has(value) ? value : undefined;
  };

  const page = (csrf: string) =>
    respond(PAGE_HTML.replace("__CSRF__", csrf), 200, { "Content-Type": "text/html; charset=utf-8" });
  const locked = (status: number, line: string) =>
    respond(
      `<!doctype html><meta charset="utf-8"><title>p2p client</title><link rel="icon" href="data:,"><link rel="stylesheet" href="/app.css"><main class="locked"><h1>p2p client</h1><p>${line}</p></main>`,
      status,
      { "Content-Type": "text/html; charset=utf-8" },
    );

  const exchange = (given: string): Response => {
    const wait = throttle.waitMs(Date.now());
    if (wait > 0)
      return locked(
        429,
        `Too many wrong tokens: wait ${Math.ceil(wait / 1000)} s, then use the link the client printed.`,
      );
    if (!sameSecret(given, token)) {
      throttle.failed(Date.now());
      return locked(403, "Wrong token: use the link the client printed (web: http://...).");
    }
    throttle.succeeded();
    const value = randomHex(24);
    sessions.set(value, randomHex(24));
    const oldest = sessions.keys().next();
    if (sessions.size > MAX_SESSIONS && !oldest.done) sessions.delete(oldest.value);
    // Redirect to the bare page: the token leaves the address bar and the history.
    return respond(null, 303, { Location: "/", "Set-Cookie": sessionCookie(cookie, value) });
  };

  const command = async (req: Request, csrf: string): Promise<Response> => {
    if (!sameSecret(req.headers.get("x-csrf-token"), csrf)) return refuse(403, "missing or wrong CSRF token");
    if (!(req.headers.get("content-type") ?? "").startsWith("application/json"))
      return refuse(415, "a page command is JSON");
    const text = await req.text();
    if (text.length > MAX_BODY_BYTES) return refuse(413, "a page command is at most 16 KiB");
    const parsed = parseCommandBody(text);
    if (!parsed.ok) return json({ ok: false, error: parsed.error });
    backend.log(commandLogLine(parsed.command));
    const outcome = await backend.run(commandLine(parsed.command));
    groups.clear(); // the page's own change shows at once
    void refresh();
    return json(outcome);
  };

  const server = Bun.serve({
    hostname: address.host,
    port: address.port,
    idleTimeout: 30,
    fetch: async (req, srv) => {
      const url = new URL(req.url);
      const host = req.headers.get("host");
      const badHost = hostProblem(host, allowedHosts(address));
      if (badHost || host === null) return refuse(403, badHost ?? "no Host");
      const badSite = fetchSiteProblem(req.headers.get("sec-fetch-site"));
      const post = req.method === "POST";
      const badOrigin = originProblem(req.headers.get("origin"), host, { required: post });
      if (badOrigin) return refuse(403, badOrigin);
      // Navigations may come from anywhere (a link in a terminal or another page): without the
      // Strict cookie they get the locked page, and frame-ancestors stops framing. Calls may not.
      if (badSite && (post || url.pathname.startsWith("/api/"))) return refuse(403, badSite);
      if (req.method !== "GET" && !post)
        return refuse(405, `method ${req.method.slice(0, 10)} is not served`);

      if (url.pathname === "/app.css")
        return respond(PAGE_CSS, 200, { "Content-Type": "text/css; charset=utf-8" });
      if (url.pathname === "/app.js")
        return respond(PAGE_JS, 200, { "Content-Type": "text/javascript; charset=utf-8" });
      if (url.pathname === "/" && !post && url.searchParams.has("token"))
        return exchange(url.searchParams.get("token") ?? "");

      const session = sessionOf(req);
      const csrf = session === undefined ? undefined : sessions.get(session);
      if (csrf === undefined) {
        if (url.pathname === "/" && !post)
          return locked(
            401,
            "Use the link the client printed (web: http://...?token=...) to open this page.",
          );
        return refuse(401, "no session: open the link the client printed");
      }
      if (post) {
        if (url.pathname === "/api/command") return command(req, csrf);
        return refuse(404, "no such page command");
      }
      switch (url.pathname) {
        case "/":
          return page(csrf);
        case "/api/events": {
          srv.timeout(req, 0); // an event stream stays open; keep-alives flow through it
          return eventStream(req, url.searchParams.get("open") ?? "");
        }
        case "/api/complete":
          return json({ entries: completePath(url.searchParams.get("path") ?? "") });
        default:
          return refuse(404, "no such page");
      }
    },
  });

  const eventStream = (req: Request, open: string): Response => {
    let stream: Stream | undefined;
    const body = new ReadableStream<string>({
      start(controller) {
        stream = {
          open: open
            .split(",")
            .filter((g) => g.length > 0)
            .slice(0, 20),
          last: "",
          send: (text) => {
            try {
              controller.enqueue(text);
            } catch {
              if (stream) streams.delete(stream);
            }
          },
        };
        streams.add(stream);
        controller.enqueue("retry: 1000\n\n");
        // Draw the last state at once if it is recent (a reload, another tab); fresh data follows.
        const cached = lastState.get(stream.open.join(" "));
        if (cached && Date.now() - cached.atMs < STATE_CACHE_MS) {
          stream.last = cached.text;
          controller.enqueue(`event: state\ndata: ${cached.text}\n\n`);
        }
        void refresh();
      },
      cancel() {
        if (stream) streams.delete(stream);
      },
    });
    req.signal.addEventListener("abort", () => {
      if (stream) streams.delete(stream);
    });
    return respond(body, 200, { "Content-Type": "text/event-stream; charset=utf-8" });
  };

  const url = `http://${hostPort({ host: address.host, port: server.port ?? address.port })}/?token=${token}`;
  return {
    url,
    stop() {
      clearInterval(timer);
      clearInterval(keepAlive);
      streams.clear();
      server.stop(true);
    },
  };
}
