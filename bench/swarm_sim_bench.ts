// bench/swarm_sim_bench.ts: `npm run bench -- swarm-sim [--peers=10,100,1000] [--seed=N[,N...]]
// [--store-and-forward]`: flash crowds of simulated peers (the real DownloadCore and ServeQueue,
// bench/swarm_sim.ts) against the Kumar-Ross bound, with equal links and with mixed ones. With
// several seeds each case also gets a mean line, and the targets are judged on the means (one
// seed can be a lucky or an unlucky draw: at 100 peers seeds 1 to 4 give 1.17x to 1.20x).
// `--store-and-forward` is a what-if: every piece stored and checked before it is passed on, as
// the product did before it forwarded pieces while they arrive (see swarm_sim.ts).
// Prints the table and writes JSON to bench/results/.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { flashCrowd, type SimHost, simulateSwarm } from "./swarm_sim.ts";
import { simVerdicts, verdictLines } from "./swarm_targets.ts";

const MBIT = 1e6;
const SIZE_BYTES = 64 * 2 ** 20;

interface Case {
  name: string;
  hosts: (peers: number) => SimHost[];
}

const CASES: Case[] = [
  {
    name: "equal: source and peers at 100 Mbit/s",
    hosts: (peers) => flashCrowd({ peers, sourceBits: 100 * MBIT, peerBits: () => 100 * MBIT }),
  },
  {
    name: "mixed: 1 Gbit/s source, 100 Mbit/s peers",
    hosts: (peers) => flashCrowd({ peers, sourceBits: 1000 * MBIT, peerBits: () => 100 * MBIT }),
  },
  {
    name: "mixed: 1 Gbit/s source, half the peers at 20 Mbit/s",
    hosts: (peers) =>
      flashCrowd({ peers, sourceBits: 1000 * MBIT, peerBits: (i) => (i % 2 === 0 ? 20 * MBIT : 100 * MBIT) }),
  },
];

/** Runs the table; returns the process exit code. */
export function runSwarmSimBench(args: string[]): number {
  const peersArg = args.find((a) => a.startsWith("--peers="))?.slice("--peers=".length) ?? "10,100,1000";
  const seedArg = args.find((a) => a.startsWith("--seed="))?.slice("--seed=".length) ?? "1";
  const peerCounts = peersArg.split(",").map(Number);
  // "1,,2" or "--seed=" would read as seed 0: every entry must be written out.
  const seeds = seedArg.split(",").map((x) => (/^-?\d+$/.test(x) ? Number(x) : Number.NaN));
  const cutThrough = !args.includes("--store-and-forward");
  const unknown = args.filter(
    (a) => !a.startsWith("--peers=") && !a.startsWith("--seed=") && a !== "--store-and-forward",
  );
  if (
    unknown.length > 0 ||
    peerCounts.some((n) => !Number.isInteger(n) || n < 1) ||
    seeds.some((n) => !Number.isInteger(n))
  ) {
    console.error(
      "error: usage: npm run bench -- swarm-sim [--peers=10,100,1000] [--seed=<integer>[,<integer>...]] [--store-and-forward]",
    );
    return 2;
  }
  const rows: Record<string, unknown>[] = [];
  const header = `${"case".padEnd(54)} ${"peers".padStart(5)} ${"seed".padStart(5)} ${"bound s".padStart(8)} ${"first s".padStart(8)} ${"last s".padStart(8)} ${"last/bound".padStart(10)} ${"source sent".padStart(11)} ${"wall s".padStart(7)}`;
  const lines = [
    `swarm simulator: ${SIZE_BYTES / 2 ** 20} MiB (${SIZE_BYTES / 2 ** 19} pieces), flash crowd at t=0, seed${seeds.length > 1 ? "s" : ""} ${seeds.join(", ")}, 0.5 ms RTT per hop`,
    cutThrough
      ? "pieces forwarded while they arrive, the last part once checked (as the product does)"
      : "what-if: every piece stored and checked before it is offered (the product before 2026-12-02)",
    "bound: T_min = max(F/u_s, F/d_min, N F/(u_s + sum u_i)) (Kumar and Ross 2006), per case; source sent = pieces the source uploaded",
    header,
    "-".repeat(header.length),
  ];
  console.log(lines.join("\n"));
  const judged: { peers: number; equal: boolean; case: string; ratio: number }[] = [];
  for (const c of CASES) {
    for (const peers of peerCounts) {
      const ratios: number[] = [];
      for (const seed of seeds) {
        const began = performance.now();
        const r = simulateSwarm({ sizeBytes: SIZE_BYTES, hosts: c.hosts(peers), seed, cutThrough });
        const wallS = (performance.now() - began) / 1000;
        const done = r.finishMs.filter((t): t is number => t !== undefined);
        const first = Math.min(...done) / 1000;
        const last = Math.max(...done) / 1000;
        const ratio = last / (r.boundMs / 1000);
        const line = `${c.name.padEnd(54)} ${String(peers).padStart(5)} ${String(seed).padStart(5)} ${(r.boundMs / 1000).toFixed(2).padStart(8)} ${first.toFixed(2).padStart(8)} ${last.toFixed(2).padStart(8)} ${`${ratio.toFixed(2)}x`.padStart(10)} ${String(r.sourceUploads).padStart(11)} ${wallS.toFixed(1).padStart(7)}${done.length < peers ? `  ${peers - done.length} NOT FINISHED` : ""}${r.badWritten > 0 ? `  ${r.badWritten} BAD PIECES WRITTEN` : ""}${r.arrivedBeforeSenderHad > 0 ? `  ${r.arrivedBeforeSenderHad} PIECES AHEAD OF THEIR SENDER` : ""}`;
        console.log(line);
        lines.push(line);
        rows.push({
          case: c.name,
          peers,
          seed,
          cutThrough,
          boundS: r.boundMs / 1000,
          firstS: first,
          lastS: last,
          ratio,
          finished: done.length,
          gaveUp: r.gaveUp,
          badWritten: r.badWritten,
          sourceUploads: r.sourceUploads,
          totalUploads: r.totalUploads,
          events: r.events,
          wallS,
        });
        // A swarm some of whose peers never finished misses its target, whatever the others did.
        ratios.push(done.length < peers ? Infinity : ratio);
      }
      const mean = ratios.reduce((a, b) => a + b, 0) / ratios.length;
      if (seeds.length > 1) {
        const line = `${c.name.padEnd(54)} ${String(peers).padStart(5)} ${"mean".padStart(5)} ${"".padStart(8 + 1 + 8 + 1 + 8)} ${`${mean.toFixed(3)}x`.padStart(10)}  (${Math.min(...ratios).toFixed(3)}x to ${Math.max(...ratios).toFixed(3)}x)`;
        console.log(line);
        lines.push(line);
      }
      judged.push({ peers, equal: c === CASES[0], case: c.name, ratio: mean });
    }
  }
  const targets = simVerdicts(judged);
  const on = seeds.length > 1 ? `the mean of seeds ${seeds.join(", ")}` : `seed ${seeds[0]}`;
  const targetLines = ["", `targets (${on}):`, ...verdictLines(targets)];
  console.log(targetLines.join("\n"));
  lines.push(...targetLines);
  const dir = join(import.meta.dir, "results");
  mkdirSync(dir, { recursive: true });
  const file = join(
    dir,
    `${new Date().toISOString().replace(/[:.]/g, "-")}-swarm-sim${cutThrough ? "" : "-store-and-forward"}.json`,
  );
  writeFileSync(
    file,
    `${JSON.stringify({ sizeBytes: SIZE_BYTES, seeds, cutThrough, rows, means: judged, targets, table: lines }, null, 2)}\n`,
  );
  console.log(`\nwritten to ${file}`);
  return 0;
}
