// `npm run demo` end to end (a smaller file): two trackers, three peers, a failover, a verified copy.
import { describe, expect, test } from "bun:test";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));

describe("demo", () => {
  test("shares a file between three peers, survives a tracker kill, verifies the copy and stops everything", async () => {
    const proc = Bun.spawn([process.execPath, "bench/demo.ts"], {
      cwd: root,
      env: { ...process.env, DEMO_MB: "24" },
      stdout: "pipe",
      stderr: "pipe",
    });
    const timer = setTimeout(() => proc.kill("SIGKILL"), 60_000);
    const [out, err, code] = await Promise.all([
      new Response(proc.stdout).text(),
      new Response(proc.stderr).text(),
      proc.exited,
    ]);
    clearTimeout(timer);
    expect({ code, err }).toEqual({ code: 0, err: "" });
    expect(out).toContain("killed tracker 1");
    expect(out).toContain("matches the source");
    expect(out).toContain("demo: stopped every tracker and client it started");
    expect(out).not.toContain("\x1b["); // piped: no escape codes
  }, 90_000);
});
