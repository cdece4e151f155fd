// A capture of the TCP bytes on loopback to and from some ports, as an eavesdropper on the lab
// network would see them, and searches in it. Runs capture_main.ts in its own process (an
// AF_PACKET socket through bun:ffi: needs root or CAP_NET_RAW; `captureAvailable()` says).
//
//   const capture = await LoopbackCapture.start([trackerPort, peerPort]);
//   ... traffic ...
//   const flows = await capture.stop();          // "sourcePort>destinationPort" -> bytes, in order
//   expect(findRun(flows, fileBytes, 64)).toBeUndefined();
//
// Test helper (never a spec file).
import { readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";

const MAIN = new URL("./capture_main.ts", import.meta.url).pathname;

/** Whether this process may open an AF_PACKET socket (root, or CAP_NET_RAW). */
export function captureAvailable(): boolean {
  const probe = Bun.spawnSync([process.execPath, "-e", PROBE]);
  return probe.exitCode === 0;
}
const PROBE = `import { dlopen, FFIType } from "bun:ffi";
const libc = dlopen("libc.so.6", { socket: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 } });
process.exit(libc.symbols.socket(17, 3, 0x0300) >= 0 ? 0 : 1);`;

export class LoopbackCapture {
  #process: Subprocess<"ignore", "pipe", "pipe">;
  #out: string;

  private constructor(process: Subprocess<"ignore", "pipe", "pipe">, out: string) {
    this.#process = process;
    this.#out = out;
  }

  /** Starts capturing every TCP segment from or to one of `ports`; resolves once it records. */
  static async start(ports: number[]): Promise<LoopbackCapture> {
    const out = join(tmpdir(), `p2p-capture-${process.pid}-${Date.now()}.bin`);
    const child = Bun.spawn([process.execPath, MAIN, out, ...ports.map(String)], {
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    const reader = child.stdout.getReader();
    const first = await reader.read();
    reader.releaseLock();
    const text = new TextDecoder().decode(first.value ?? new Uint8Array(0));
    if (!text.includes("capturing")) {
      child.kill("SIGKILL");
      throw new Error(`capture did not start: ${await new Response(child.stderr).text()}`);
    }
    return new LoopbackCapture(child, out);
  }

  /** Stops and returns each flow's payload in sequence order (each segment once). */
  async stop(): Promise<Map<string, Uint8Array>> {
    await Bun.sleep(200); // let the last segments through the capture socket
    this.#process.kill("SIGKILL");
    await this.#process.exited;
    const bytes = readFileSync(this.#out);
    rmSync(this.#out, { force: true });
    return reassemble(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  }
}

/** Flows from capture records: loopback shows each segment more than once; keep one per sequence number. */
function reassemble(bytes: Uint8Array): Map<string, Uint8Array> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const segments = new Map<string, { first: number; bySeq: Map<number, Uint8Array> }>();
  for (let at = 0; at + 12 <= bytes.byteLength; ) {
    const flow = `${view.getUint16(at)}>${view.getUint16(at + 2)}`;
    const seq = view.getUint32(at + 4);
    const length = view.getUint32(at + 8);
    const payload = bytes.subarray(at + 12, at + 12 + length);
    at += 12 + length;
    const f = segments.get(flow) ?? { first: seq, bySeq: new Map<number, Uint8Array>() };
    segments.set(flow, f);
    f.bySeq.set((seq - f.first) >>> 0, payload); // relative, so a wrap of the u32 is harmless
  }
  const flows = new Map<string, Uint8Array>();
  for (const [flow, { bySeq }] of segments) {
    const ordered = [...bySeq].sort((a, b) => a[0] - b[0]);
    const size = ordered.reduce((n, [, p]) => n + p.byteLength, 0);
    const out = new Uint8Array(size);
    let at = 0;
    for (const [, p] of ordered) {
      out.set(p, at);
      at += p.byteLength;
    }
    flows.set(flow, out);
  }
  return flows;
}

/** Where `needle` occurs in one of the flows, if it does: "flow at offset". */
export function findBytes(flows: Map<string, Uint8Array>, needle: Uint8Array): string | undefined {
  const buffer = Buffer.from(needle);
  for (const [flow, bytes] of flows) {
    const at = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).indexOf(buffer);
    if (at >= 0) return `${flow} at ${at}`;
  }
  return undefined;
}

/**
 * Where some run of `runBytes` consecutive bytes of `file` occurs in one of the flows, if one
 * does. Any such run holds a whole block of runBytes/2 bytes aligned in the file, so looking up
 * every captured offset among the file's aligned blocks finds every run.
 */
export function findRun(
  flows: Map<string, Uint8Array>,
  file: Uint8Array,
  runBytes: number,
): string | undefined {
  const block = runBytes / 2;
  const starts = new Map<number, number[]>();
  const fileView = new DataView(file.buffer, file.byteOffset, file.byteLength);
  for (let at = 0; at + block <= file.byteLength; at += block) {
    const key = fileView.getUint32(at);
    const list = starts.get(key);
    if (list) list.push(at);
    else starts.set(key, [at]);
  }
  for (const [flow, bytes] of flows) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let at = 0; at + block <= bytes.byteLength; at++) {
      const candidates = starts.get(view.getUint32(at));
      if (!candidates) continue;
      for (const start of candidates)
        if (Buffer.compare(bytes.subarray(at, at + block), file.subarray(start, start + block)) === 0)
          return `${flow} at ${at} (file offset ${start})`;
    }
  }
  return undefined;
}

/** Total bytes in the flows from or to `port`. */
export function bytesOn(flows: Map<string, Uint8Array>, port: number): number {
  let total = 0;
  for (const [flow, bytes] of flows)
    if (flow.split(">").map(Number).includes(port)) total += bytes.byteLength;
  return total;
}
