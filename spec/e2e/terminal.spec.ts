// The client at a real terminal (tmux gives it a pseudo-terminal), and binaries that travel:
// run from another directory with an empty environment, no Bun or Node on PATH.
import { afterEach, beforeAll, describe, expect, test } from "bun:test";
import { cp } from "node:fs/promises";
import { join } from "node:path";
import { makeCluster, startTrackers } from "../helpers/cluster.ts";
import { CLIENT_BIN, makeTempDir, stopAll, TRACKER_BIN } from "../helpers/processes.ts";
import { freePort } from "../helpers/wait.ts";

const hasTmux = Bun.spawnSync(["sh", "-c", "command -v tmux"]).exitCode === 0;
const session = `p2p-term-${process.pid}`;

function tmux(...args: string[]): string {
  const r = Bun.spawnSync(["tmux", ...args], { stdout: "pipe", stderr: "pipe" });
  return r.stdout.toString();
}

/** The visible screen, without blank lines. */
function screen(): string[] {
  return tmux("capture-pane", "-t", session, "-p")
    .split("\n")
    .filter((l) => l.trim() !== "");
}

async function until(check: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (check()) return;
    await Bun.sleep(50);
  }
  throw new Error(`timed out waiting for ${what}; screen:\n${screen().join("\n")}`);
}

/** Types `keys` (tmux key names allowed) and waits a moment, as a person would. */
async function type(...keys: string[]): Promise<void> {
  for (const k of keys) {
    tmux("send-keys", "-t", session, k);
    await Bun.sleep(120);
  }
}

afterEach(async () => {
  if (hasTmux) tmux("kill-session", "-t", session);
  await stopAll();
});

describe("client at a terminal", () => {
  beforeAll(() => {
    if (!hasTmux) console.log("tmux missing: apt-get install tmux to run the terminal tests");
  });

  test.skipIf(!hasTmux)(
    "shows who is logged in and through which tracker, completes, recalls history, exits on Ctrl-C",
    async () => {
      const cluster = await makeCluster({ trackers: 1 });
      await startTrackers(cluster);
      const dir = await makeTempDir();
      const command = `${CLIENT_BIN} 127.0.0.1:${freePort()} ${cluster.infoPath} --data-dir ${join(dir, "c")}; echo EXIT=$?; sleep 30`;
      tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "40", "-e", "NO_COLOR=1", command);
      await until(() => screen().some((l) => l.startsWith("guest>")), "the guest prompt");
      await type("create_user ann pw", "Enter", "login ann pw", "Enter");
      await until(
        () => screen().some((l) => l.startsWith("ann@tracker1>")),
        "a prompt naming the user and tracker",
      );
      await type("create_group lab", "Enter");
      await type("list_gr", "Tab", "Enter"); // completes the command
      await until(() => screen().includes("lab owner=ann members=1 files=0"), "list_groups output");
      await type("leave_group l", "Tab", "Enter"); // completes a group id it has seen
      await until(() => screen().includes("left lab"), "leave_group output");
      await type("Up", "Enter"); // history: the same command again
      await until(
        () => screen().some((l) => l.startsWith('error: no group "lab"')),
        "the repeated command's error",
      );
      expect(screen().join("\n")).not.toContain("\x1b["); // NO_COLOR: no escape codes
      await type("C-c");
      await until(() => screen().includes("EXIT=0"), "exit status 0 on a line of its own after Ctrl-C");
    },
    30_000,
  );
});

describe("binaries that travel", () => {
  test("tracker and client run from another directory with an empty environment", async () => {
    const dir = await makeTempDir();
    await cp(TRACKER_BIN, join(dir, "tracker"));
    await cp(CLIENT_BIN, join(dir, "client"));
    const port = freePort();
    await Bun.write(join(dir, "tracker_info.txt"), `127.0.0.1 ${port}\n`);
    const tracker = Bun.spawn(["env", "-i", "./tracker", "tracker_info.txt", "1"], {
      cwd: dir,
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
    });
    try {
      const reader = tracker.stdout.getReader();
      const first = new TextDecoder().decode((await reader.read()).value);
      expect(first).toContain("listening");
      const client = Bun.spawnSync(["env", "-i", "./client", `127.0.0.1:${freePort()}`, "tracker_info.txt"], {
        cwd: dir,
        stdin: new TextEncoder().encode("create_user zoe pw\nlogin zoe pw\nwhoami\n"),
        stdout: "pipe",
        stderr: "pipe",
      });
      expect(client.exitCode).toBe(0);
      const out = client.stdout.toString().trim().split("\n");
      expect(out[0]).toBe("user zoe created");
      expect(out[1]).toBe("logged in as zoe (tracker 1)");
      expect(out[2]).toStartWith("zoe on 127.0.0.1:");
      expect(client.stderr.toString()).not.toContain("error:");
    } finally {
      tracker.kill("SIGKILL");
      await tracker.exited;
    }
  }, 30_000);
});
