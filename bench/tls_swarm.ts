// One build's side of bench/tls_bench.ts, run in its own process so that P2P_BIN_DIR picks the
// build: `bun bench/tls_swarm.ts transfer FILE SEEDERS RUNS` times RUNS fresh leechers of FILE
// from SEEDERS seeders; `bun bench/tls_swarm.ts handshake COUNT [--plain]` times COUNT
// connections to a tracker, each up to its first reply. Prints one JSON line on stdout.
import { join } from "node:path";
import { makeCluster } from "../spec/helpers/cluster.ts";
import { makeTempDir, stopAll } from "../spec/helpers/processes.ts";
import { RawSocket } from "../spec/helpers/raw_socket.ts";
import { startTracker } from "../spec/helpers/tracker_process.ts";
import { startOurSwarm } from "./ours.ts";

const [mode, ...rest] = process.argv.slice(2);
try {
  if (mode === "transfer") {
    const [file, seeders, runs] = rest;
    const swarm = await startOurSwarm({ file: file ?? "", seeders: Number(seeders), timeoutMs: 600_000 });
    const scratch = await makeTempDir("p2p-tls-bench-");
    const results = [];
    for (let i = 0; i < Number(runs); i++) results.push(await swarm.leech(join(scratch, "leecher"), 600_000));
    await swarm.stop();
    console.log(JSON.stringify(results));
  } else if (mode === "handshake") {
    const count = Number(rest[0]);
    const plain = rest.includes("--plain");
    const cluster = await makeCluster({ trackers: 1 });
    await startTracker(cluster, 1);
    const port = cluster.slots[0]!.port;
    const ms: number[] = [];
    for (let i = 0; i < count; i++) {
      const started = performance.now();
      const raw = await RawSocket.connect({ port, plain });
      const reply = await raw.request({ t: "heartbeat" });
      ms.push(performance.now() - started);
      if (reply?.t !== "reply") throw new Error(`no reply on connection ${i}`);
      raw.destroy();
    }
    console.log(JSON.stringify(ms));
  } else {
    throw new Error("usage: bun bench/tls_swarm.ts transfer FILE SEEDERS RUNS | handshake COUNT [--plain]");
  }
} finally {
  await stopAll();
}
process.exit(0);
