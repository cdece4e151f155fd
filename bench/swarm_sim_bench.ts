// bench/swarm_sim_bench.ts: `npm run bench -- swarm-sim [--peers=10,100,1000] [--seed=N[,N...]]
// [--store-and-forward]`: flash crowds of simulated peers (the real DownloadCore and ServeQueue,
// bench/swarm_sim.ts) against the Kumar-Ross bound, with equal links and with mixed ones. With
// several seeds each case also gets a mean line, and the targets are judged on the means (one
// seed can be a lucky or an unlucky draw: at 100 peers seeds 1 to 4 give 1.17x to 1.20x).
// `--store-and-forward` is a what-if: every piece stored and checked before it is passed on, as
// the product did before it forwarded pieces while they arrive (see swarm_sim.ts).
// `--stripe-trees[=K]` is another, of an overlay the product does not build: balanced stripe
// trees of K stripes (default 4, bench/stripe_trees.ts), each downloader asking each of its K
// parents for one stripe.
// `--latency-ms=N` sets every host's one-way latency (default 0.25; the namespace lab's full
// queues are about 25 ms a host), `--start-spread-ms=N` starts each downloader at a uniform
// moment in [0, N) instead of all at once (a crowd that clicks over a second, not in one ms).
// Prints the table and writes JSON to bench/results/.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { flashCrowd, type SimHost, simulateSwarm } from "./swarm_sim.ts";
import { simVerdicts, verdictLines } from "./swarm_targets.ts";

const MBIT = 1e6;
/** Every host's one-way latency unless `--latency-ms` says otherwise (flashCrowd's default). */
const DEFAULT_LATENCY_MS = 0.25;
const SIZE_BYTES = 64 * 2 ** 20;

interface Case {
  name: string;
  hosts: (peers: number, latencyMs: number) => SimHost[];
}

const CASES: Case[] = [
  {
    name: "equal: source and peers at 100 Mbit/s",
    hosts: (peers, latencyMs) =>
      flashCrowd({ peers, sourceBits: 100 * MBIT, peerBits: () => 100 * MBIT, latencyMs }),
  },
  {
    name: "mixed: 1 Gbit/s source, 100 Mbit/s peers",
    hosts: (peers, latencyMs) =>
      flashCrowd({ peers, sourceBits: 1000 * MBIT, peerBits: () => 100 * MBIT, latencyMs }),
  },
  {
    name: "mixed: 1 Gbit/s source, half the peers at 20 Mbit/s",
    hosts: (peers, latencyMs) =>
      flashCrowd({
        peers,
        sourceBits: 1000 * MBIT,
        peerBits: (i) => (i % 2 === 0 ? 20 * MBIT : 100 * MBIT),
        latencyMs,
      }),
  },
];

const USAGE =
  "error: usage: npm run bench -- swarm-sim [--peers=10,100,1000] [--seed=<integer>[,<integer>...]] [--latency-ms=<ms>] [--start-spread-ms=<ms>] [--store-and-forward | --stripe-trees[=<stripes>]]";

/** A non-negative number of milliseconds as written, or NaN. */
function milliseconds(text: string): number {
  return /^\d+(\.\d+)?$/.test(text) ? Number(text) : Number.NaN;
}

/** The value of `--name=value` in `args`, or undefined. */
function flag(args: string[], name: string): string | undefined {
  return args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
}

/** Runs the table; returns the process exit code. */
export function runSwarmSimBench(args: string[]): number {
  const treesArg = args.includes("--stripe-trees") ? "4" : flag(args, "stripe-trees");
  const stripes = treesArg === undefined ? undefined : /^\d+$/.test(treesArg) ? Number(treesArg) : Number.NaN;
  const peersArg = flag(args, "peers") ?? "10,100,1000";
  const seedArg = flag(args, "seed") ?? "1";
  const latencyArg = flag(args, "latency-ms") ?? String(DEFAULT_LATENCY_MS);
  const peerCounts = peersArg.split(",").map(Number);
  // "1,,2" or "--seed=" would read as seed 0: every entry must be written out.
  const seeds = seedArg.split(",").map((x) => (/^-?\d+$/.test(x) ? Number(x) : Number.NaN));
  const latencyMs = milliseconds(latencyArg);
  const spreadArg = flag(args, "start-spread-ms") ?? "0";
  const startSpreadMs = milliseconds(spreadArg);
  const cutThrough = !args.includes("--store-and-forward");
  const known = ["--peers=", "--seed=", "--latency-ms=", "--start-spread-ms=", "--stripe-trees="];
  const unknown = args.filter(
    (a) => !known.some((k) => a.startsWith(k)) && a !== "--store-and-forward" && a !== "--stripe-trees",
  );
  if (
    unknown.length > 0 ||
    peerCounts.some((n) => !Number.isInteger(n) || n < 1) ||
    seeds.some((n) => !Number.isInteger(n)) ||
    Number.isNaN(latencyMs) ||
    Number.isNaN(startSpreadMs) ||
    (stripes !== undefined && !(stripes >= 1)) ||
    (stripes !== undefined && !cutThrough)
  ) {
    console.error(USAGE);
    return 2;
  }
  if (stripes !== undefined && peerCounts.some((n) => n < stripes)) {
    console.error(
      `error: stripe trees need at least as many peers as stripes (${stripes}): got --peers=${peersArg}`,
    );
    return 2;
  }
  const rows: Record<string, unknown>[] = [];
  const header = `${"case".padEnd(54)} ${"peers".padStart(5)} ${"seed".padStart(5)} ${"bound s".padStart(8)} ${"first s".padStart(8)} ${"last s".padStart(8)} ${"last/bound".padStart(10)} ${"source sent".padStart(11)} ${"wall s".padStart(7)}`;
  const lines = [
    `swarm simulator: ${SIZE_BYTES / 2 ** 20} MiB (${SIZE_BYTES / 2 ** 19} pieces), ${startSpreadMs > 0 ? `downloaders starting over ${startSpreadMs} ms` : "flash crowd at t=0"}, seed${seeds.length > 1 ? "s" : ""} ${seeds.join(", ")}, ${2 * latencyMs} ms RTT per hop`,
    !cutThrough
      ? "what-if: every piece stored and checked before it is offered (the product before 2026-12-02)"
      : stripes !== undefined
        ? `what-if, not the product: balanced trees of ${stripes} stripes, each downloader asking each of its parents for one stripe (bench/stripe_trees.ts)`
        : "pieces forwarded while they arrive, the last part once checked (as the product does)",
    "bound: T_min = max(F/u_s, F/d_min, N F/(u_s + sum u_i)) (Kumar and Ross 2006), per case; source sent = pieces the source uploaded",
    ...(startSpreadMs > 0
      ? [
          `(the bound is for a crowd starting at once; "bound for these starts" is the later of it and the latest start plus F/d)`,
        ]
      : []),
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
        const hosts = c.hosts(peers, latencyMs);
        const r = simulateSwarm({
          sizeBytes: SIZE_BYTES,
          hosts,
          seed,
          cutThrough,
          startSpreadMs,
          ...(stripes === undefined ? {} : { stripeTrees: stripes }),
        });
        const wallS = (performance.now() - began) / 1000;
        const done = r.finishMs.filter((t): t is number => t !== undefined);
        const first = Math.min(...done) / 1000;
        const last = Math.max(...done) / 1000;
        const ratio = last / (r.boundMs / 1000);
        // Started over a spread, a downloader cannot finish before its start plus F/d.
        const fairBoundMs = Math.max(
          r.boundMs,
          ...r.startMs.map((t, k) => t + (SIZE_BYTES / (hosts[k + 1]?.downBps ?? Infinity)) * 1000),
        );
        const line = `${c.name.padEnd(54)} ${String(peers).padStart(5)} ${String(seed).padStart(5)} ${(r.boundMs / 1000).toFixed(2).padStart(8)} ${first.toFixed(2).padStart(8)} ${last.toFixed(2).padStart(8)} ${`${ratio.toFixed(2)}x`.padStart(10)} ${String(r.sourceUploads).padStart(11)} ${wallS.toFixed(1).padStart(7)}${done.length < peers ? `  ${peers - done.length} NOT FINISHED` : ""}${r.badWritten > 0 ? `  ${r.badWritten} BAD PIECES WRITTEN` : ""}${r.arrivedBeforeSenderHad > 0 ? `  ${r.arrivedBeforeSenderHad} PIECES AHEAD OF THEIR SENDER` : ""}${startSpreadMs > 0 ? `  (bound for these starts ${(fairBoundMs / 1000).toFixed(2)} s: ${(last / (fairBoundMs / 1000)).toFixed(2)}x)` : ""}`;
        console.log(line);
        lines.push(line);
        rows.push({
          case: c.name,
          peers,
          seed,
          cutThrough,
          stripeTrees: stripes ?? null,
          latencyMs,
          startSpreadMs,
          boundS: r.boundMs / 1000,
          startsBoundS: fairBoundMs / 1000,
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
  // The targets are the product's, on the links above: a what-if is not judged against them.
  const whatIf =
    stripes !== undefined
      ? "the product does not build stripe trees"
      : latencyMs !== DEFAULT_LATENCY_MS
        ? `they are set at ${DEFAULT_LATENCY_MS} ms a host`
        : startSpreadMs > 0
          ? "they are set for a crowd that starts at once"
          : undefined;
  const targets = whatIf === undefined ? simVerdicts(judged) : [];
  const on = seeds.length > 1 ? `the mean of seeds ${seeds.join(", ")}` : `seed ${seeds[0]}`;
  const targetLines =
    whatIf === undefined
      ? ["", `targets (${on}):`, ...verdictLines(targets)]
      : ["", `targets: not judged (${whatIf})`];
  console.log(targetLines.join("\n"));
  lines.push(...targetLines);
  const dir = join(import.meta.dir, "results");
  mkdirSync(dir, { recursive: true });
  const file = join(
    dir,
    `${new Date().toISOString().replace(/[:.]/g, "-")}-swarm-sim${cutThrough ? "" : "-store-and-forward"}${stripes === undefined ? "" : "-stripe-trees"}.json`,
  );
  writeFileSync(
    file,
    `${JSON.stringify({ sizeBytes: SIZE_BYTES, seeds, cutThrough, stripeTrees: stripes ?? null, latencyMs, startSpreadMs, rows, means: judged, targets, table: lines }, null, 2)}\n`,
  );
  console.log(`\nwritten to ${file}`);
  return 0;
}
