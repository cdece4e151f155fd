// Helper process for the loopback TCP figure: `sink` listens on 127.0.0.1 and discards what
// arrives; `source <file> <port>` streams the file to it. Run by machine.ts, one process each,
// so sender and receiver each have a core as two peers would.
//   bun bench/tcp_copy.ts sink            -> prints "port <n>", later "done <bytes> <ms>"
//   bun bench/tcp_copy.ts source FILE PORT

import { openSync, readSync } from "node:fs";
import type { Socket } from "bun";

/** 127.0.0.1 unless TCP_COPY_HOST names another local address (the swarm lab's hosts). */
const HOST = process.env.TCP_COPY_HOST ?? "127.0.0.1";
const CHUNK_BYTES = 4 * 1024 * 1024;
const [mode, file, port] = process.argv.slice(2);

if (mode === "sink") {
  let bytes = 0;
  let startedMs = 0;
  const listener = Bun.listen({
    hostname: HOST,
    port: 0,
    socket: {
      binaryType: "uint8array",
      // Timed from the accept to the sender's close: the bytes on the wire, not process start-up.
      open: () => {
        startedMs = performance.now();
      },
      data: (_socket, chunk) => {
        bytes += chunk.byteLength;
      },
      close: () => {
        console.log(`done ${bytes} ${(performance.now() - startedMs).toFixed(3)}`);
        listener.stop(true);
        process.exit(0);
      },
    },
  });
  console.log(`port ${listener.port}`);
} else if (mode === "source" && file && port) {
  const fd = openSync(file, "r");
  const chunk = new Uint8Array(CHUNK_BYTES);
  let pending: Uint8Array | undefined;
  // Writes until the kernel pushes back, then waits for drain: Bun's write() may take part.
  const pump = (socket: Socket) => {
    for (;;) {
      if (!pending) {
        const read = readSync(fd, chunk, 0, CHUNK_BYTES, null);
        if (read === 0) return void socket.end();
        pending = chunk.subarray(0, read);
      }
      const written = socket.write(pending);
      if (written < 0) return;
      if (written < pending.byteLength) {
        pending = pending.subarray(written);
        return;
      }
      pending = undefined;
    }
  };
  await Bun.connect({
    hostname: HOST,
    port: Number(port),
    socket: { open: pump, drain: pump, data() {}, close: () => process.exit(0) },
  });
} else {
  console.error("usage: bun bench/tcp_copy.ts sink | source <file> <port>");
  process.exit(2);
}
