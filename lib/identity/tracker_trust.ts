// Shell: which key each tracker address must present. A pinned line's id, else the one first
// seen there, remembered in the data dir's known_trackers file.
import { appendFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { formatAddress, type TrackerAddress } from "../config.ts";
import { checkPin, formatKnown, parseKnown } from "./pins.ts";

export const KNOWN_TRACKERS_FILE = "known_trackers";

/** Checks trackers' keys against pins and remembered ids. */
export class TrackerTrust {
  readonly path: string;
  #known: Map<string, string>;

  constructor(dataDir: string) {
    this.path = join(dataDir, KNOWN_TRACKERS_FILE);
    this.#known = this.#read();
  }

  #read(): Map<string, string> {
    return existsSync(this.path) ? parseKnown(readFileSync(this.path, "utf8")) : new Map();
  }

  /** Undefined if `seen` is the key `tracker` may present (remembering it on first use), else the reason to refuse it. */
  check(tracker: TrackerAddress, seen: string): string | undefined {
    const address = formatAddress(tracker);
    const remembered = this.#known.get(address);
    // The refusal says to delete the line: read the file again, so that doing so works at once.
    if (remembered !== undefined && remembered !== seen && tracker.id === undefined)
      this.#known = this.#read();
    const verdict = checkPin(
      {
        label: trackerLabel(tracker),
        pinned: tracker.id,
        remembered: this.#known.get(address),
        storePath: this.path,
      },
      seen,
    );
    if (!verdict.ok) return verdict.reason;
    if (verdict.remember) {
      this.#known.set(address, seen);
      mkdirSync(dirname(this.path), { recursive: true });
      appendFileSync(this.path, formatKnown(address, seen), { mode: 0o600 });
    }
    return undefined;
  }
}

/** `tracker 2 (tracker_info.txt line 3, 10.0.0.2:9001)`: how errors name a tracker. */
export function trackerLabel(t: TrackerAddress): string {
  return `tracker ${t.no} (tracker_info.txt line ${t.line}, ${formatAddress(t)})`;
}
