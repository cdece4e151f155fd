// Parses tracker_info.txt text into the list of trackers. Pure: the entry points read the file.
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
  return trackers;
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
