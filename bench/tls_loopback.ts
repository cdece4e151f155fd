// Where encryption's time goes on one link (#11): a sender process writes SIZE_MB over one
// loopback connection, plain TCP or TLS 1.3 (our options, our key check), and this process
// receives it; prints the wall time and the receiver's CPU seconds per GiB for each, runs
// interleaved. The receiver's CPU is what a leecher's main thread pays on top of hashing.
//   [SIZE_MB=1024] [RUNS=3] bun bench/tls_loopback.ts

import type { Socket } from "bun";
import { connectTls, listenTls } from "../lib/wire/tls.ts";
import { freshIdentity } from "../spec/helpers/identity.ts";

const sizeBytes = Number(process.env.SIZE_MB ?? "1024") * 2 ** 20;
const runs = Number(process.env.RUNS ?? "3");
const role = process.argv[2];
const identity = await freshIdentity();

if (role === "send") {
  // bun bench/tls_loopback.ts send PORT tls|plain
  const port = Number(process.argv[3]);
  const tls = process.argv[4] === "tls";
  const chunk = new Uint8Array(512 * 1024).fill(7);
  let sent = 0;
  const pump = (s: Socket<undefined>) => {
    while (sent < sizeBytes) {
      const n = s.write(chunk.subarray(0, Math.min(chunk.byteLength, sizeBytes - sent)));
      if (n <= 0) return;
      sent += n;
    }
    s.end();
  };
  await Bun.connect({
    hostname: "127.0.0.1",
    port,
    ...(tls ? { tls: connectTls(identity) } : {}),
    socket: {
      open: (s) => void (tls ? undefined : pump(s)), // TLS: wait for the handshake (writes before it are dropped)
      handshake: (s) => pump(s),
      drain: pump,
      data() {},
      close: () => process.exit(0),
    },
  });
} else {
  const results: Record<string, { wallS: number; cpuS: number; chunks: number }[]> = { plain: [], tls: [] };
  for (let i = 0; i < runs; i++) {
    for (const mode of i % 2 ? ["tls", "plain"] : ["plain", "tls"]) {
      let received = 0;
      let chunks = 0;
      let done: () => void = () => {};
      const finished = new Promise<void>((resolve) => (done = resolve));
      const onData = (_s: unknown, bytes: Uint8Array) => {
        received += bytes.byteLength;
        chunks++;
        if (received >= sizeBytes) done();
      };
      const listener =
        mode === "tls"
          ? Bun.listen({
              hostname: "127.0.0.1",
              port: 0,
              tls: listenTls(identity),
              socket: { binaryType: "uint8array", data: onData },
            })
          : Bun.listen({
              hostname: "127.0.0.1",
              port: 0,
              socket: { binaryType: "uint8array", data: onData },
            });
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      const sender = Bun.spawn([process.execPath, import.meta.path, "send", String(listener.port), mode], {
        stderr: "inherit",
      });
      await finished;
      const wallS = (performance.now() - t0) / 1000;
      const cpu = process.cpuUsage(cpu0);
      results[mode]!.push({ wallS, cpuS: (cpu.user + cpu.system) / 1e6, chunks });
      sender.kill();
      listener.stop(true);
    }
  }
  const gib = sizeBytes / 2 ** 30;
  for (const [mode, rs] of Object.entries(results)) {
    const wall = rs.map((r) => r.wallS).sort((a, b) => a - b);
    const cpu = rs.map((r) => r.cpuS / gib).sort((a, b) => a - b);
    console.log(
      `${mode}: ${(sizeBytes / 2 ** 20 / wall[Math.floor(wall.length / 2)]!).toFixed(0)} MiB/s median wall, receiver CPU ${cpu[Math.floor(cpu.length / 2)]!.toFixed(2)} s/GiB, ${Math.round(sizeBytes / (rs[0]!.chunks || 1) / 1024)} KiB per data event (runs: ${rs.map((r) => r.wallS.toFixed(2)).join(", ")} s)`,
    );
  }
}
