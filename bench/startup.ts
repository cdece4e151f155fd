// Start-up time of the compiled binaries: ./tracker to its `listening` line, ./client to its
// answer to `help whoami` (piped, the client shows no prompt, so the first answer is the mark).
import { join } from "node:path";
import { COMMANDS, usage } from "../lib/client/commands.ts";
import { makeCluster } from "../spec/helpers/cluster.ts";
import { LineStream } from "../spec/helpers/line_stream.ts";
import { CLIENT_BIN } from "../spec/helpers/processes.ts";
import { startTracker } from "../spec/helpers/tracker_process.ts";
import { freePort } from "../spec/helpers/wait.ts";
import { spawnChild } from "./proc.ts";

const WHOAMI_HELP = `${usage("whoami")}: ${COMMANDS.whoami.help}`;
const START_TIMEOUT_MS = 15_000;

/** Seconds from spawning ./tracker (fresh data dir, one-tracker file) to its `listening` line. */
export async function timeTrackerStart(): Promise<number> {
  const cluster = await makeCluster({ trackers: 1 });
  const started = performance.now();
  const tracker = await startTracker(cluster, 1);
  const seconds = (performance.now() - started) / 1000;
  await tracker.quit();
  return seconds;
}

/**
 * Seconds from spawning ./client to the stdout line answering `help whoami`, written to its
 * stdin at once (the line waits in the pipe until the client reads it).
 */
export async function timeClientStart(): Promise<number> {
  const cluster = await makeCluster({ trackers: 1 });
  const peer = `127.0.0.1:${freePort()}`;
  const started = performance.now();
  const child = spawnChild(
    [CLIENT_BIN, peer, cluster.infoPath, "--data-dir", join(cluster.dir, "client.data")],
    {
      timeoutMs: START_TIMEOUT_MS,
      cwd: cluster.dir,
      stdin: "pipe",
      stdout: "pipe",
    },
  );
  try {
    // casts: spawned with stdin and stdout "pipe"
    const stdin = child.proc.stdin as import("bun").FileSink;
    stdin.write("help whoami\n");
    stdin.flush();
    const out = new LineStream(child.proc.stdout as ReadableStream<Uint8Array>);
    const answer = await out.next((l) => l === WHOAMI_HELP, START_TIMEOUT_MS);
    const seconds = (performance.now() - started) / 1000;
    if (!answer.found)
      throw new Error(`./client exited before answering help whoami: ${JSON.stringify(answer.lines)}`);
    stdin.write("quit\n");
    stdin.flush();
    await child.exited;
    return seconds;
  } finally {
    await child.stop();
  }
}
