// Human-readable sizes, rates and download lines. Pure.
import type { Download } from "../download/engine.ts";

/** `52.4 MB`, `1.0 GiB`-style sizes in powers of 1024 with one decimal. */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** One `show_downloads` line: `[D] [g1] file 42% 12.3 MiB/s 3 peers`. */
export function formatDownload(d: Download): string {
  const head = `[${d.state === "downloading" ? "D" : d.state === "complete" ? "C" : "F"}] [${d.spec.group}] ${d.spec.name}`;
  const p = d.progress();
  if (d.state === "failed") return `${head} ${d.reason}`;
  if (d.state === "complete") {
    const seconds = p.elapsedMs / 1000;
    return `${head} -> ${d.spec.dest} (${formatBytes(d.spec.sizeBytes)} in ${seconds.toFixed(1)} s, ${d.resumedPieces} pieces resumed, ${d.refetchedPieces} fetched twice, ${d.badPieces} failed their check)`;
  }
  return `${head} ${p.percent}% ${formatBytes(p.bytesPerSecond)}/s ${p.peers} peer${p.peers === 1 ? "" : "s"}`;
}
