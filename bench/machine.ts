// The machine's limits on the bench file: sha1sum, a plain loopback TCP copy, a disk write.
// Each is one timed run; the caller repeats them. The file is in the page cache throughout
// (it was just written), as it is for every download and upload figure.
import { rmSync } from "node:fs";
import { join } from "node:path";
import { LineStream } from "../spec/helpers/line_stream.ts";
import { runOk, spawnChild } from "./proc.ts";

const TCP_COPY_SCRIPT = join(import.meta.dir, "tcp_copy.ts");

/** Seconds for `sha1sum <file>`, and the digest it printed. */
export async function timeSha1sum(
  file: string,
  timeoutMs: number,
): Promise<{ seconds: number; sha1: string }> {
  const ran = await runOk(["sha1sum", file], { timeoutMs });
  return { seconds: ran.ms / 1000, sha1: ran.stdout.split(" ")[0]! };
}

/** Seconds to push the whole file through one 127.0.0.1 TCP connection between two processes. */
export async function timeTcpCopy(file: string, sizeBytes: number, timeoutMs: number): Promise<number> {
  const sink = spawnChild([process.execPath, TCP_COPY_SCRIPT, "sink"], { timeoutMs, stdout: "pipe" });
  try {
    const lines = new LineStream(sink.proc.stdout as ReadableStream<Uint8Array>); // cast: spawned with stdout "pipe"
    const portLine = await lines.next((l) => l.startsWith("port "), 10_000);
    if (!portLine.found) throw new Error("the TCP sink exited before listening");
    const port = portLine.lines.at(-1)!.split(" ")[1]!;
    const source = spawnChild([process.execPath, TCP_COPY_SCRIPT, "source", file, port], { timeoutMs });
    const done = await lines.next((l) => l.startsWith("done "), timeoutMs);
    await source.exited;
    const [, bytes, ms] = done.lines.at(-1)!.split(" ");
    if (!done.found || Number(bytes) !== sizeBytes)
      throw new Error(`the TCP sink got ${bytes} bytes of ${sizeBytes}`);
    return Number(ms) / 1000;
  } finally {
    await sink.stop();
  }
}

/** Seconds for `dd` to write the file to `dir` (page cache only, or with fdatasync at the end). */
export async function timeDiskWrite(
  file: string,
  options: { dir: string; fdatasync: boolean; timeoutMs: number },
): Promise<number> {
  const dest = join(options.dir, "dd-copy.bin");
  rmSync(dest, { force: true });
  await flushDirtyPages(options.timeoutMs);
  const cmd = ["dd", `if=${file}`, `of=${dest}`, "bs=4M", "status=none"];
  if (options.fdatasync) cmd.push("conv=fdatasync");
  try {
    return (await runOk(cmd, { timeoutMs: options.timeoutMs })).ms / 1000;
  } finally {
    rmSync(dest, { force: true });
  }
}

/** Writes `sizeBytes` random bytes to `path` (untimed). */
export async function makeRandomFile(path: string, sizeBytes: number, timeoutMs: number): Promise<void> {
  await runOk(["sh", "-c", `head -c ${sizeBytes} /dev/urandom > '${path}'`], { timeoutMs });
}

/**
 * Runs `sync` (untimed) so that the dirty pages of earlier steps (a 1 GiB download, the random
 * file) are on disk: otherwise the kernel throttles the next writer while it flushes them, and
 * the figure depends on what ran before.
 */
export async function flushDirtyPages(timeoutMs: number): Promise<void> {
  await runOk(["sync"], { timeoutMs });
}
