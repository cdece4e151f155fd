// `npm run demo`: two trackers and three peers on 127.0.0.1 share a generated file inside a
// group; one tracker is killed mid-download to show failover; the result is verified. Stops
// everything it started, also on Ctrl-C.
import { createHash } from "node:crypto";
import { join } from "node:path";
import { messageOf } from "../lib/errors.ts";
import { type ClientProcess, startClient } from "../spec/helpers/client_process.ts";
import { makeCluster, startTrackers } from "../spec/helpers/cluster.ts";
import { makeTempDir, stopAll } from "../spec/helpers/processes.ts";

const SIZE_MB = Number(process.env.DEMO_MB ?? 200);
const tty = process.stdout.isTTY === true;
const say = (line: string) => console.log(`demo: ${line}`);

process.on("SIGINT", () => void stopAll().then(() => process.exit(130)));

async function main(): Promise<void> {
  const cluster = await makeCluster({ trackers: 2 });
  const trackers = await startTrackers(cluster);
  say(`trackers 1 and 2 listening (${cluster.slots.map((s) => `${s.host}:${s.port}`).join(", ")})`);
  const alice = await startClient(cluster);
  const bob = await startClient(cluster);
  const carol = await startClient(cluster);
  const shown = async (who: string, c: ClientProcess, line: string) => {
    const lines = await c.ok(line);
    console.log(`  ${who}> ${line}${lines.map((l) => `\n      ${l}`).join("")}`);
    return lines;
  };
  for (const [name, c] of [
    ["alice", alice],
    ["bob", bob],
    ["carol", carol],
  ] as const) {
    await shown(name, c, `create_user ${name} secret-${name}`);
    await shown(name, c, `login ${name} secret-${name}`);
  }
  await shown("alice", alice, "create_group lab");
  await shown("bob", bob, "join_group lab");
  await shown("carol", carol, "join_group lab");
  await shown("alice", alice, "list_requests lab");
  await shown("alice", alice, "accept_request lab bob");
  await shown("alice", alice, "accept_request lab carol");

  const files = await makeTempDir("p2p-demo-");
  const source = join(files, "dataset.bin");
  say(`writing a random ${SIZE_MB} MB file`);
  const hash = createHash("sha1");
  const writer = Bun.file(source).writer();
  for (let left = SIZE_MB * 1024 * 1024; left > 0; left -= 1 << 20) {
    const chunk = crypto.getRandomValues(new Uint8Array(Math.min(left, 1 << 20)));
    hash.update(chunk);
    writer.write(chunk);
  }
  await writer.end();
  const expected = hash.digest("hex");
  await shown("alice", alice, `upload_file ${source} lab`);
  await shown("bob", bob, `upload_file ${source} lab`);
  await shown("carol", carol, "list_files lab");

  const started = performance.now();
  await shown("carol", carol, `download_file lab dataset.bin ${files}/carol-copy.bin`);
  let killed = false;
  let last = "";
  for (;;) {
    const [line = ""] = (await carol.ok("show_downloads")).filter((l) => l.includes("dataset.bin"));
    const percent = line.startsWith("[C]") ? 100 : Number(/ (\d+)% /.exec(line)?.[1] ?? 0);
    if (!killed && percent >= 30) {
      trackers[0]!.kill("SIGKILL");
      killed = true;
      if (tty) process.stdout.write("\n");
      say("killed tracker 1 mid-download: the clients carry on through tracker 2");
    }
    if (tty)
      process.stdout.write(
        `\r\x1b[2K  [${"#".repeat(Math.floor(percent / 5)).padEnd(20, ".")}] ${line.slice(0, 70)}`,
      );
    else if (line !== last) console.log(`  carol> ${line}`);
    last = line;
    if (line.startsWith("[C]") || line.startsWith("[F]")) break;
    await Bun.sleep(tty ? 100 : 250);
  }
  const seconds = (performance.now() - started) / 1000;
  if (tty) process.stdout.write("\n");
  if (!last.startsWith("[C]")) throw new Error(`download failed: ${last}`);
  if (!killed) {
    trackers[0]!.kill("SIGKILL"); // the download beat the first poll: show the failover now
    say("killed tracker 1 after the download: the clients carry on through tracker 2");
    await shown("carol", carol, "list_files lab");
  }
  const got = createHash("sha1")
    .update(new Uint8Array(await Bun.file(join(files, "carol-copy.bin")).arrayBuffer()))
    .digest("hex");
  const via = (await carol.ok("whoami"))[0] ?? "";
  say(`verified: sha1 ${got} ${got === expected ? "matches the source" : "DOES NOT MATCH"}`);
  say(
    `${SIZE_MB} MB in ${seconds.toFixed(2)} s (${(SIZE_MB / seconds).toFixed(0)} MB/s) from 2 peers; now: ${via}`,
  );
  if (got !== expected) throw new Error("the downloaded file differs from the source");
}

try {
  await main();
  await stopAll();
  say("stopped every tracker and client it started");
} catch (err) {
  console.error(`demo: error: ${messageOf(err)}`);
  await stopAll();
  process.exit(1);
}
