// The loopback capture process (see capture.ts): bun spec/helpers/capture_main.ts OUT PORT...
// Reads every frame on an AF_PACKET socket (needs CAP_NET_RAW) through bun:ffi, keeps the TCP
// segments from or to one of PORTs on 127.0.0.0/8, and appends each to OUT as
// [u16 source port][u16 destination port][u32 sequence number][u32 length][payload].
// Prints "capturing" once the socket is open; runs until killed. Test helper (never a spec file).
import { dlopen, FFIType, ptr } from "bun:ffi";
import { openSync, writeSync } from "node:fs";

const [out, ...portArgs] = process.argv.slice(2);
if (out === undefined || portArgs.length === 0) {
  console.error("error: usage: bun capture_main.ts OUT PORT...");
  process.exit(2);
}
const ports = new Set(portArgs.map(Number));
const libc = dlopen("libc.so.6", {
  socket: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  setsockopt: {
    args: [FFIType.i32, FFIType.i32, FFIType.i32, FFIType.ptr, FFIType.u32],
    returns: FFIType.i32,
  },
  recv: { args: [FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.i32], returns: FFIType.i64 },
});
const AF_PACKET = 17;
const SOCK_RAW = 3;
const ETH_P_ALL_NETWORK_ORDER = 0x0300; // htons(0x0003)
const SOL_SOCKET = 1;
const SO_RCVBUFFORCE = 33;
const fd = libc.symbols.socket(AF_PACKET, SOCK_RAW, ETH_P_ALL_NETWORK_ORDER);
if (fd < 0) {
  console.error("error: cannot open an AF_PACKET socket (needs root or CAP_NET_RAW)");
  process.exit(3);
}
// A deep receive buffer: loopback moves GB/s, and a dropped segment would hide its bytes.
const bufferBytes = new Int32Array([256 * 1024 * 1024]);
libc.symbols.setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, ptr(bufferBytes), 4);
const file = openSync(out, "w");
console.log("capturing");

const frame = new Uint8Array(65_536 + 64);
const view = new DataView(frame.buffer);
const ETHERNET_BYTES = 14;
for (;;) {
  const n = Number(libc.symbols.recv(fd, ptr(frame), frame.byteLength, 0));
  if (n < ETHERNET_BYTES + 40 || view.getUint16(12) !== 0x0800) continue; // IPv4 only
  const ip = ETHERNET_BYTES;
  if (frame[ip + 9] !== 6 || frame[ip + 12] !== 127) continue; // TCP from 127.0.0.0/8
  const ipHeader = ((frame[ip] ?? 0) & 0x0f) * 4;
  const ipTotal = view.getUint16(ip + 2);
  const tcp = ip + ipHeader;
  const source = view.getUint16(tcp);
  const destination = view.getUint16(tcp + 2);
  if (!ports.has(source) && !ports.has(destination)) continue;
  const tcpHeader = ((frame[tcp + 12] ?? 0) >> 4) * 4;
  const payload = frame.subarray(tcp + tcpHeader, Math.min(ip + ipTotal, n));
  if (payload.byteLength === 0) continue;
  const head = new DataView(new ArrayBuffer(12));
  head.setUint16(0, source);
  head.setUint16(2, destination);
  head.setUint32(4, view.getUint32(tcp + 4));
  head.setUint32(8, payload.byteLength);
  writeSync(file, new Uint8Array(head.buffer));
  writeSync(file, payload);
}
