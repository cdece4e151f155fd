// Parses tracker_info.txt text into the list of trackers. Pure: the entry points read the file.
import { ConfigError } from "./errors.ts";

/** One tracker's listening address; `no` counts from 1 in file order. */
export interface TrackerAddress {
  no: number;
  host: string;
  port: number;
}

export type TrackerInfo = TrackerAddress[];

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const HOSTNAME = /^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/;

/** Parses `IP PORT` or `IP:PORT` lines; blank lines and `#` comments are skipped. */
export function parseTrackerInfo(text: string): TrackerInfo {
  const trackers: TrackerInfo = [];
  const seen = new Set<string>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const where = `tracker_info.txt line ${i + 1}`;
    const { host, port } = parseAddress(line, where);
    const key = `${host}:${port}`;
    if (seen.has(key)) throw new ConfigError(`${where}: duplicate tracker "${key}"`);
    seen.add(key);
    trackers.push({ no: trackers.length + 1, host, port });
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

function splitColon(text: string): string[] {
  const at = text.lastIndexOf(":");
  return at < 0 ? [text] : [text.slice(0, at), text.slice(at + 1)];
}

/** `host:port`, the form used on the wire and in output. */
export function formatAddress(a: { host: string; port: number }): string {
  return `${a.host}:${a.port}`;
}
