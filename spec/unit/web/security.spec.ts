// spec/unit/web/security.spec.ts: the web page's request checks and token throttle.
import { describe, expect, test } from "bun:test";
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
} from "../../../lib/web/security.ts";

describe("hostProblem", () => {
  const allowed = allowedHosts({ host: "127.0.0.1", port: 8080 });

  test("accepts the served address and the loopback names with its port", () => {
    for (const host of ["127.0.0.1:8080", "localhost:8080", "LOCALHOST:8080", "[::1]:8080"])
      expect({ host, problem: hostProblem(host, allowed) }).toEqual({ host, problem: undefined });
  });

  test("refuses other names, other ports, a missing port and no Host at all (DNS rebinding)", () => {
    for (const host of [
      "evil.example:8080",
      "evil.example",
      "127.0.0.1",
      "127.0.0.1:8081",
      "localhost",
      "127.0.0.2:8080",
      "localhost.evil.example:8080",
    ])
      expect({ host, problem: hostProblem(host, allowed) }).toEqual({
        host,
        problem: expect.stringContaining("is not this page's address"),
      });
    expect(hostProblem(null, allowed)).toBe("the request names no Host");
    expect(hostProblem("", allowed)).toBe("the request names no Host");
  });

  test("accepts an explicitly served LAN or IPv6 address, bracketed as browsers send it", () => {
    expect(
      hostProblem("192.168.1.5:9000", allowedHosts({ host: "192.168.1.5", port: 9000 })),
    ).toBeUndefined();
    expect(hostPort({ host: "fe80::1", port: 9000 })).toBe("[fe80::1]:9000");
    expect(hostProblem("[fe80::1]:9000", allowedHosts({ host: "fe80::1", port: 9000 }))).toBeUndefined();
  });
});

describe("originProblem", () => {
  test("requires exactly http://<Host> on state-changing requests", () => {
    expect(originProblem("http://127.0.0.1:8080", "127.0.0.1:8080", { required: true })).toBeUndefined();
    expect(originProblem(null, "127.0.0.1:8080", { required: true })).toBe("the request carries no Origin");
    for (const origin of [
      "http://evil.example",
      "https://127.0.0.1:8080",
      "http://127.0.0.1:8080.evil.example",
      "http://127.0.0.1:8080/",
      "null",
      "http://localhost:8080",
    ])
      expect({ origin, problem: originProblem(origin, "127.0.0.1:8080", { required: true }) }).toEqual({
        origin,
        problem: expect.stringContaining("is not this page"),
      });
  });

  test("lets GETs omit Origin (same-origin GETs carry none) but checks one that is there", () => {
    expect(originProblem(null, "127.0.0.1:8080", { required: false })).toBeUndefined();
    expect(originProblem("http://evil.example", "127.0.0.1:8080", { required: false })).toContain(
      "is not this page",
    );
  });
});

describe("fetchSiteProblem", () => {
  test("refuses requests a browser marks as from another site", () => {
    for (const site of [null, "same-origin", "none"]) expect(fetchSiteProblem(site)).toBeUndefined();
    for (const site of ["cross-site", "same-site"])
      expect(fetchSiteProblem(site)).toContain("from another site");
  });
});

describe("cookies and secrets", () => {
  test("reads one cookie among others and makes an HttpOnly SameSite=Strict session cookie", () => {
    expect(readCookie("a=1; p2p_web_8080=abc; b=2", "p2p_web_8080")).toBe("abc");
    expect(readCookie("xp2p_web_8080=abc", "p2p_web_8080")).toBeUndefined();
    expect(readCookie(null, "p2p_web_8080")).toBeUndefined();
    expect(sessionCookie(cookieName(8080), "abc")).toBe(
      "p2p_web_8080=abc; Path=/; HttpOnly; SameSite=Strict",
    );
  });

  test("compares secrets whole: a prefix, a longer value or nothing is not the secret", () => {
    expect(sameSecret("abcd", "abcd")).toBe(true);
    for (const given of ["abc", "abcde", "abce", "", null, undefined])
      expect(sameSecret(given, "abcd")).toBe(false);
  });
});

describe("TokenThrottle", () => {
  test("lets three wrong tokens through, then waits 1 s, 2 s, 4 s ... up to the cap", () => {
    const t = new TokenThrottle({ freeFailures: 3, baseDelayMs: 1_000, maxDelayMs: 8_000 });
    for (let i = 0; i < 3; i++) {
      expect(t.waitMs(0)).toBe(0);
      t.failed(0);
    }
    expect(t.waitMs(0)).toBe(0);
    t.failed(0);
    expect(t.waitMs(0)).toBe(1_000);
    expect(t.waitMs(999)).toBe(1);
    expect(t.waitMs(1_000)).toBe(0);
    t.failed(1_000);
    expect(t.waitMs(1_000)).toBe(2_000);
    t.failed(3_000);
    expect(t.waitMs(3_000)).toBe(4_000);
    t.failed(7_000);
    expect(t.waitMs(7_000)).toBe(8_000);
    t.failed(15_000);
    expect(t.waitMs(15_000)).toBe(8_000); // capped
  });

  test("starts afresh after the right token", () => {
    const t = new TokenThrottle({ freeFailures: 1, baseDelayMs: 1_000 });
    t.failed(0);
    t.failed(0);
    expect(t.waitMs(0)).toBe(1_000);
    t.succeeded();
    expect(t.waitMs(0)).toBe(0);
    t.failed(0);
    expect(t.waitMs(0)).toBe(0);
  });
});

describe("COMMON_HEADERS", () => {
  test("forbid framing, sniffing, referrers, caching and scripts from elsewhere", () => {
    expect(COMMON_HEADERS["Content-Security-Policy"]).toStartWith("default-src 'self';");
    expect(COMMON_HEADERS["Content-Security-Policy"]).toContain("frame-ancestors 'none'");
    expect(COMMON_HEADERS["Content-Security-Policy"]).not.toContain("unsafe");
    expect(COMMON_HEADERS["X-Content-Type-Options"]).toBe("nosniff");
    expect(COMMON_HEADERS["Referrer-Policy"]).toBe("no-referrer");
    expect(COMMON_HEADERS["Cache-Control"]).toBe("no-store");
  });
});
