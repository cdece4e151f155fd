// The pure core stays pure: no sockets, files, timers, clock reads or randomness (STYLE §1-2).
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const LIB = fileURLToPath(new URL("../../lib", import.meta.url));

/** Pure folders, and pure files inside shell folders. */
const PURE = [
  ...["replica", "pieces"].flatMap((dir) => readdirSync(join(LIB, dir)).map((f) => `${dir}/${f}`)),
  "config.ts",
  "identity/der.ts",
  "identity/fingerprint.ts",
  "identity/pins.ts",
  "errors.ts",
  "download/requests.ts",
  "download/core.ts",
  "peer/serve_queue.ts",
  "peer/super_seed.ts",
  "peer/send_slots.ts",
  "peer/arriving.ts",
  "peer/catalog.ts",
  "download/view.ts",
  "web/security.ts",
  "web/listing.ts",
  "web/command_body.ts",
  "client/commands.ts",
  "tracker/liveness.ts",
  "tracker/login_throttle.ts",
  "wire/frame.ts",
  "wire/buffer_pool.ts",
  "cli/client_args.ts",
  "wire/fields.ts",
  "wire/limits.ts",
  "wire/tracker_protocol.ts",
  "wire/sync_protocol.ts",
  "wire/peer_protocol.ts",
  "wire/parts.ts",
  "wire/base_stream.ts",
];

const FORBIDDEN: [RegExp, string][] = [
  [/\bBun\.(listen|connect|file|write|spawn|sleep)\b/, "Bun I/O"],
  [/from "node:(fs|net|fs\/promises|child_process|dgram|http)"/, "node I/O"],
  [/\b(setTimeout|setInterval|setImmediate)\(/, "timers"],
  [/\bDate\.now\(|\bnew Date\(|\bperformance\.now\(/, "clock reads"],
  [/\bMath\.random\(|crypto\.getRandomValues\(/, "randomness"],
  [
    /from "\.\.\/(tracker|client|peer|download)\/(?!requests|core|serve_queue|super_seed|send_slots|liveness|login_throttle|commands)/,
    "imports of shells",
  ],
];

describe("layering", () => {
  test.each(PURE)("lib/%s does no I/O, reads no clock and draws no randomness", (file) => {
    const text = readFileSync(join(LIB, file), "utf8").replace(/^\s*(\/\/|\*|\/\*\*).*$/gm, ""); // comments may say what is forbidden
    for (const [pattern, what] of FORBIDDEN)
      expect({ file, what, found: pattern.test(text) }).toEqual({ file, what, found: false });
  });
});
