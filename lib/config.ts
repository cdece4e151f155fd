// Parses tracker_info.txt text into the list of trackers. Pure: the entry points read the file.
import { createHash } from "node:crypto";
import { ConfigError } from "./errors.ts";
import { parseKeyId } from "./identity/fingerprint.ts";

/** One tracker's listening address; `no` counts from 1 in file order, `line` is its line in the file. */
export interface TrackerAddress {
  no: number;
  line: number;
  host: string;
  port: number;
  /** The id its key must have, when the line pins one (canonical form). */
  id?: string;
}

export type TrackerInfo = TrackerAddress[];

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const HOSTNAME = /^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/;

/** Parses `IP PORT [ID]` or `IP:PORT [ID]` lines; blank lines and `#` comments are skipped. */
export function parseTrackerInfo(text: string): TrackerInfo {
  const trackers: TrackerInfo = [];
  const seen = new Set<string>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const where = `tracker_info.txt line ${i + 1}`;
    const { address, idText } = splitId(line);
    const { host, port } = parseAddress(address, where);
    const key = `${host}:${port}`;
    if (seen.has(key)) throw new ConfigError(`${where}: duplicate tracker "${key}"`);
    seen.add(key);
    const tracker: TrackerAddress = { no: trackers.length + 1, line: i + 1, host, port };
    if (idText !== undefined) {
      const id = parseKeyId(idText);
      if (id === undefined)
        throw new ConfigError(
          `${where}: "${idText}" is not a tracker id (32 base32 characters, as ./tracker tracker_info.txt <no> --id prints)`,
        );
      tracker.id = id;
    }
    trackers.push(tracker);
  });
  if (trackers.length === 0)
    throw new ConfigError('tracker_info.txt lists no tracker: add a line like "127.0.0.1 9001"');
  refuseNodeCollisions(trackers);
  return trackers;
}

/**
 * Node ids are at least this: the numbers below are the line numbers that earlier versions used
 * as node ids, and their operations live on in data dirs (as ops of retired origins, see README).
 */
export const MIN_NODE_ID = 65_536;
/** The largest node id: 32 bits. */
export const MAX_NODE_ID = 2 ** 32 - 1;

/**
 * A tracker's node id in the replicated state (op origins, stamps, version vectors). It comes
 * from what its line keeps whatever other lines do, so removing or reordering lines renames no
 * tracker: the pinned key id when the line has one (the tracker itself, wherever it is reached
 * from: it keeps its id when it moves, and lines of different machines may reach it at different
 * addresses), else the address (host without case: `localhost` and `127.0.0.1` differ).
 */
export function nodeIdOf(t: { host: string; port: number; id?: string | undefined }): number {
  return t.id === undefined ? addressNodeId(t) : idOfText(`key ${t.id}`);
}

/** The node id a line's address gives, pinned or not (what the line had before it was pinned). */
export function addressNodeId(a: { host: string; port: number }): number {
  return idOfText(`${a.host.toLowerCase()}:${a.port}`);
}

function idOfText(text: string): number {
  const digest = createHash("sha256").update(text).digest();
  return MIN_NODE_ID + (digest.readUInt32BE(0) % (MAX_NODE_ID - MIN_NODE_ID + 1));
}

/** Two lines that give one node id (the same pinned id, or 1 chance in 4 billion) cannot both run. */
function refuseNodeCollisions(trackers: TrackerInfo): void {
  const byNode = new Map<number, TrackerAddress>();
  for (const t of trackers) {
    const node = nodeIdOf(t);
    const other = byNode.get(node);
    if (other)
      throw new ConfigError(
        `tracker_info.txt lines ${other.line} (${formatAddress(other)}) and ${t.line} (${formatAddress(t)}) give the same node id ${node}: ${t.id !== undefined && t.id === other.id ? "they pin the same tracker id; remove the line that is not that tracker's" : "change the port of one of them"}`,
      );
    byNode.set(node, t);
  }
}

/** Parses `IP:PORT` or `IP PORT`; `where` prefixes the error message. */
export function parseAddress(text: string, where: string): { host: string; port: number } {
  const parts = text.includes(" ") || text.includes("\t") ? text.split(/\s+/) : splitColon(text);
  const [host, portText] = parts;
  if (parts.length !== 2 || host === undefined || portText === undefined)
    throw new ConfigError(`${where}: expected "IP PORT" or "IP:PORT": got "${text}"`);
  const octets = IPV4.exec(host);
  if (octets ? octets.slice(1).some((o) => Number(o) > 255) : !HOSTNAME.test(host)) {
    throw new ConfigError(`${where}: "${host}" is not an IPv4 address or host name`);
  }
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port < 1 || port > 65535) {
    throw new ConfigError(`${where}: port "${portText}" is not an integer in 1..65535`);
  }
  return { host, port };
}

/** Separates an optional third field, the id: `IP PORT ID` or `IP:PORT ID`. */
function splitId(line: string): { address: string; idText: string | undefined } {
  const words = line.split(/\s+/);
  const [first, second, third] = words;
  if (words.length === 3 && third !== undefined) return { address: `${first} ${second}`, idText: third };
  if (words.length === 2 && first?.includes(":") && second !== undefined)
    return { address: first, idText: second };
  return { address: line, idText: undefined };
}

function splitColon(text: string): string[] {
  const at = text.lastIndexOf(":");
  return at < 0 ? [text] : [text.slice(0, at), text.slice(at + 1)];
}

/** `host:port`, the form used on the wire and in output. */
export function formatAddress(a: { host: string; port: number }): string {
  return `${a.host}:${a.port}`;
}

/** --strict: every line but `self`'s must pin an id; the error names the first that does not. */
export function requirePins(trackers: TrackerInfo, self?: number): void {
  const unpinned = trackers.find((t) => t.id === undefined && t.no !== self);
  if (unpinned)
    throw new ConfigError(
      `tracker_info.txt line ${unpinned.line} (${formatAddress(unpinned)}) has no id and --strict refuses unpinned lines: add the id that "./tracker tracker_info.txt ${unpinned.no} --id" prints on that tracker's machine as the line's third field`,
    );
}
