// The web page's request checks: Host (DNS rebinding), cookie, CSRF token with an exact Origin,
// throttled wrong tokens, and the headers every response carries. Pure: time is a parameter.
import { timingSafeEqual } from "node:crypto";

/** Where the page is served. */
export interface WebAddress {
  host: string;
  port: number;
}

const LOOPBACK_NAMES = ["localhost", "127.0.0.1", "[::1]"];

/** `host:port` with IPv6 literals bracketed, as browsers send it in `Host` and `Origin`. */
export function hostPort(address: WebAddress): string {
  const host =
    address.host.includes(":") && !address.host.startsWith("[") ? `[${address.host}]` : address.host;
  return `${host}:${address.port}`;
}

/**
 * The `Host` values accepted: the address served, and the loopback names with its port. Any
 * other name (say an attacker's domain re-pointed at 127.0.0.1) is refused: DNS rebinding.
 */
export function allowedHosts(address: WebAddress): Set<string> {
  const hosts = new Set([hostPort(address)]);
  for (const name of LOOPBACK_NAMES) hosts.add(`${name}:${address.port}`);
  return hosts;
}

/** Why a request's `Host` is refused, or undefined when it is one of `allowed`. */
export function hostProblem(host: string | null, allowed: ReadonlySet<string>): string | undefined {
  if (host === null || host === "") return "the request names no Host";
  if (!allowed.has(host.toLowerCase())) return `Host "${host.slice(0, 80)}" is not this page's address`;
  return undefined;
}

/**
 * Why a request's `Origin` is refused. State-changing requests must carry exactly
 * `http://<Host>`; other requests may omit it (browsers send none on same-origin GETs) but a
 * present one must match too.
 */
export function originProblem(
  origin: string | null,
  host: string,
  options: { required: boolean },
): string | undefined {
  if (origin === null) return options.required ? "the request carries no Origin" : undefined;
  if (origin !== `http://${host.toLowerCase()}`) return `Origin "${origin.slice(0, 80)}" is not this page`;
  return undefined;
}

/**
 * Why `Sec-Fetch-Site` shows a request from another site; undefined when absent (older
 * browsers, curl) or same-origin / typed by the user.
 */
export function fetchSiteProblem(site: string | null): string | undefined {
  if (site === null || site === "same-origin" || site === "none") return undefined;
  return `a request from another site (${site.slice(0, 20)})`;
}

/** The value of cookie `name` in a `Cookie` header. */
export function readCookie(header: string | null, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** `Set-Cookie` for the session: not readable by scripts, never sent by other sites. */
export function sessionCookie(name: string, value: string): string {
  return `${name}=${value}; Path=/; HttpOnly; SameSite=Strict`;
}

/** The session cookie's name: one per port, as cookies ignore ports (two clients on one machine). */
export function cookieName(port: number): string {
  return `p2p_web_${port}`;
}

/** Compares two secrets in time independent of where they differ. */
export function sameSecret(given: string | undefined | null, secret: string): boolean {
  if (typeof given !== "string") return false;
  const a = Buffer.from(given);
  const b = Buffer.from(secret);
  return a.byteLength === b.byteLength && timingSafeEqual(a, b);
}

/** Options of TokenThrottle. */
export interface ThrottleOptions {
  /** Wrong tokens allowed before any wait (a mistyped link or two). */
  freeFailures?: number;
  /** The first wait; each further wrong token doubles it, up to maxDelayMs. */
  baseDelayMs?: number;
  maxDelayMs?: number;
}

/**
 * Slows down guessing the token: after a few wrong ones, every token (right or wrong) is
 * refused for a growing wait. One throttle per server: a guesser has no other address to use.
 */
export class TokenThrottle {
  #free: number;
  #baseMs: number;
  #maxMs: number;
  #failures = 0;
  #blockedUntilMs = 0;

  constructor(options: ThrottleOptions = {}) {
    this.#free = options.freeFailures ?? 3;
    this.#baseMs = options.baseDelayMs ?? 1_000;
    this.#maxMs = options.maxDelayMs ?? 60_000;
  }

  /** Milliseconds to wait before a token may be tried at `nowMs` (0: try it now). */
  waitMs(nowMs: number): number {
    return Math.max(0, this.#blockedUntilMs - nowMs);
  }

  /** A wrong token was tried at `nowMs`. */
  failed(nowMs: number): void {
    this.#failures++;
    const over = this.#failures - this.#free;
    if (over > 0) this.#blockedUntilMs = nowMs + Math.min(this.#maxMs, this.#baseMs * 2 ** (over - 1));
  }

  /** The right token was given: a user who got the link right starts afresh. */
  succeeded(): void {
    this.#failures = 0;
    this.#blockedUntilMs = 0;
  }
}

/** Headers of every response: no framing, no sniffing, no referrer, scripts only from here. */
export const COMMON_HEADERS: Readonly<Record<string, string>> = {
  "Content-Security-Policy":
    "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  "X-Content-Type-Options": "nosniff",
  "X-Frame-Options": "DENY",
  "Referrer-Policy": "no-referrer",
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Resource-Policy": "same-origin",
  "Cache-Control": "no-store",
};
