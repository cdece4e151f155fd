// What encrypting every link costs (#11): the plaintext build before it against this one, in one
// invocation on one file, runs interleaved (before, after, after, before) so that the load of a
// shared machine falls on both alike.
//   BEFORE_BIN_DIR=/path/to/plaintext/build [SIZE_MB=1024] [RUNS=2] bun bench/tls_bench.ts
// BEFORE_BIN_DIR holds ./tracker and ./client built from the commit before #11. Prints the
// table and writes bench/results/<time>-tls.json. Binds 127.0.0.1 only.
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "../spec/helpers/processes.ts";
import { makeRandomFile } from "./machine.ts";
import type { DownloadRun } from "./reference.ts";

const before = process.env.BEFORE_BIN_DIR;
const sizeMb = Number(process.env.SIZE_MB ?? "1024");
const runs = Number(process.env.RUNS ?? "2");
if (!before || !Number.isInteger(sizeMb) || sizeMb < 1 || !Number.isInteger(runs) || runs < 1) {
  console.error(
    "error: usage: BEFORE_BIN_DIR=<plaintext build> [SIZE_MB=1024] [RUNS=2] bun bench/tls_bench.ts",
  );
  process.exit(2);
}
const builds = { before, after: REPO_ROOT } as const;
type Build = keyof typeof builds;

async function child(build: Build, args: string[]): Promise<unknown> {
  const proc = Bun.spawn([process.execPath, join(REPO_ROOT, "bench/tls_swarm.ts"), ...args], {
    env: { ...process.env, P2P_BIN_DIR: builds[build] },
    stdout: "pipe",
    stderr: "inherit",
  });
  const out = await new Response(proc.stdout).text();
  if ((await proc.exited) !== 0) throw new Error(`tls_swarm.ts ${args.join(" ")} (${build}) failed`);
  return JSON.parse(out.trim().split("\n").at(-1) ?? "null");
}

const dir = join(REPO_ROOT, "bench", "results");
mkdirSync(dir, { recursive: true });
const file = join("/tmp", `p2p-tls-bench-${process.pid}.bin`);
await makeRandomFile(file, sizeMb * 2 ** 20, 600_000);
const order: Build[] = ["before", "after", "after", "before"];
const transfers: Record<string, Record<Build, DownloadRun[]>> = {};
try {
  for (const seeders of [1, 4]) {
    const runsOf: Record<Build, DownloadRun[]> = { before: [], after: [] };
    for (const build of order) {
      const got = (await child(build, ["transfer", file, String(seeders), String(runs)])) as DownloadRun[];
      runsOf[build].push(...got);
      console.error(`${seeders} seeder(s), ${build}: ${got.map((r) => r.seconds.toFixed(2)).join(", ")} s`);
    }
    transfers[seeders] = runsOf;
  }
  const handshakes: Record<Build, number[]> = { before: [], after: [] };
  for (const build of order)
    handshakes[build].push(
      ...((await child(build, ["handshake", "100", ...(build === "before" ? ["--plain"] : [])])) as number[]),
    );

  const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  };
  const mib = (b: number) => (b / 2 ** 20).toFixed(1);
  const lines = [
    `| figure (median of ${runs * 2} runs, ${sizeMb} MiB) | plaintext before | TLS after | after/before |`,
    "|---|---|---|---|",
  ];
  for (const [seeders, r] of Object.entries(transfers)) {
    const [b, a] = [median(r.before.map((x) => x.seconds)), median(r.after.map((x) => x.seconds))];
    lines.push(
      `| download from ${seeders} seeder(s), s | ${b.toFixed(2)} | ${a.toFixed(2)} | ${(a / b).toFixed(2)}x |`,
    );
    const [rb, ra] = [
      Math.max(...r.before.map((x) => x.peakRssBytes)),
      Math.max(...r.after.map((x) => x.peakRssBytes)),
    ];
    lines.push(
      `| leecher peak RSS (${seeders} seeder(s)), MiB, max | ${mib(rb)} | ${mib(ra)} | ${(ra / rb).toFixed(2)}x |`,
    );
  }
  const [hb, ha] = [median(handshakes.before), median(handshakes.after)];
  lines.push(
    `| connect to first reply, ms (TCP vs TCP+TLS 1.3 handshake) | ${hb.toFixed(2)} | ${ha.toFixed(2)} | +${(ha - hb).toFixed(2)} ms |`,
  );
  console.log(lines.join("\n"));
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  writeFileSync(
    join(dir, `${stamp}-tls.json`),
    JSON.stringify({ sizeMb, runs, transfers, handshakes, table: lines }, null, 2),
  );
} finally {
  rmSync(file, { force: true });
}
