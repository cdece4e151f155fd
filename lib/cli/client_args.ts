// The client's command line: ./client <IP>:<PORT> tracker_info.txt [--data-dir DIR] [--key-file FILE]
// [--strict] [--web [IP:]PORT] [--give-up-after SECONDS]. Read by hand rather than with yargs (as the tracker's is): loading
// yargs costs ~12 MiB of resident memory, a fifth of the client's 64 MiB budget while it downloads.

export const CLIENT_USAGE =
  "usage: ./client <IP>:<PORT> tracker_info.txt [--data-dir DIR] [--key-file FILE] [--strict] [--web [IP:]PORT] [--give-up-after SECONDS]";

export const CLIENT_HELP = `${CLIENT_USAGE}

Runs a client that serves file pieces on <IP>:<PORT> and reads commands from standard input.

  <IP>:<PORT>       where this client serves file pieces to other peers
  tracker_info.txt  the trackers, one "IP PORT" per line
  --data-dir DIR    where shares and downloads are remembered (default ./client-<PORT>.data)
  --key-file FILE   this client's private key (default <data-dir>/identity.key; made if missing, mode 0600)
  --strict          refuse tracker_info.txt lines without a tracker id (no trust on first use)
  --web [IP:]PORT   also serve a web page on IP:PORT (default IP 127.0.0.1); prints its URL
  --give-up-after SECONDS
                    a download that no connected peer can help gives up after this long
                    without progress (default 60)
  -h, --help        show this help`;

/** Where the web page is served. */
export interface WebListen {
  host: string;
  port: number;
}

export type ClientArgs =
  | { help: true }
  | {
      help: false;
      peer: string;
      info: string;
      dataDir?: string | undefined;
      keyFile?: string | undefined;
      strict?: boolean | undefined;
      web?: WebListen | undefined;
      giveUpAfterS?: number | undefined;
    };

/** Parses `--web`'s value: `PORT`, `IP:PORT` or `[IPv6]:PORT`; the address defaults to loopback. */
export function parseWebListen(value: string): { ok: true; web: WebListen } | { ok: false; reason: string } {
  const at = value.lastIndexOf(":");
  const host = at < 0 ? "127.0.0.1" : value.slice(0, at);
  const portText = at < 0 ? value : value.slice(at + 1);
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : Number.NaN;
  if (!(port >= 1 && port <= 65535))
    return { ok: false, reason: `--web "${value.slice(0, 60)}": expected [IP:]PORT with PORT in 1..65535` };
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  const v6 = /^\[([0-9a-fA-F:.]+)\]$/.exec(host);
  if (v4?.slice(1).every((n) => Number(n) <= 255)) return { ok: true, web: { host, port } };
  if (v6?.[1]) return { ok: true, web: { host: v6[1], port } };
  if (host === "localhost") return { ok: true, web: { host: "127.0.0.1", port } };
  return { ok: false, reason: `--web "${value.slice(0, 60)}": "${host.slice(0, 40)}" is not an IP address` };
}

/** Parses the arguments after the program name; `reason` is one line for `error: `. */
export function parseClientArgs(
  argv: readonly string[],
): { ok: true; args: ClientArgs } | { ok: false; reason: string } {
  const positional: string[] = [];
  let dataDir: string | undefined;
  let keyFile: string | undefined;
  let strict = false;
  let web: WebListen | undefined;
  let giveUpAfterS: number | undefined;
  let optionsOver = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    if (optionsOver || !arg.startsWith("-") || arg === "-") {
      positional.push(arg);
    } else if (arg === "--") {
      optionsOver = true;
    } else if (arg === "-h" || arg === "--help") {
      return { ok: true, args: { help: true } };
    } else if (arg === "--data-dir" || arg.startsWith("--data-dir=")) {
      const value = arg === "--data-dir" ? argv[++i] : arg.slice("--data-dir=".length);
      if (value === undefined || value === "") return { ok: false, reason: "--data-dir needs a directory" };
      if (dataDir !== undefined) return { ok: false, reason: "--data-dir given twice" };
      dataDir = value;
    } else if (arg === "--key-file" || arg.startsWith("--key-file=")) {
      const value = arg === "--key-file" ? argv[++i] : arg.slice("--key-file=".length);
      if (value === undefined || value === "") return { ok: false, reason: "--key-file needs a file" };
      if (keyFile !== undefined) return { ok: false, reason: "--key-file given twice" };
      keyFile = value;
    } else if (arg === "--strict") {
      strict = true;
    } else if (arg === "--web" || arg.startsWith("--web=")) {
      const value = arg === "--web" ? argv[++i] : arg.slice("--web=".length);
      if (value === undefined || value === "") return { ok: false, reason: "--web needs [IP:]PORT" };
      if (web !== undefined) return { ok: false, reason: "--web given twice" };
      const parsed = parseWebListen(value);
      if (!parsed.ok) return parsed;
      web = parsed.web;
    } else if (arg === "--give-up-after" || arg.startsWith("--give-up-after=")) {
      const value = arg === "--give-up-after" ? argv[++i] : arg.slice("--give-up-after=".length);
      const seconds = value !== undefined && /^\d+(\.\d+)?$/.test(value) ? Number(value) : Number.NaN;
      if (!(seconds >= 1 && seconds <= 86_400))
        return { ok: false, reason: `--give-up-after needs seconds in 1..86400: got ${value ?? "nothing"}` };
      if (giveUpAfterS !== undefined) return { ok: false, reason: "--give-up-after given twice" };
      giveUpAfterS = seconds;
    } else {
      return { ok: false, reason: `unknown option ${arg}` };
    }
  }
  const [peer, info, extra] = positional;
  if (peer === undefined || info === undefined)
    return {
      ok: false,
      reason: `missing ${peer === undefined ? "<IP>:<PORT> and tracker_info.txt" : "tracker_info.txt"}`,
    };
  if (extra !== undefined) return { ok: false, reason: `unexpected argument ${extra}` };
  return {
    ok: true,
    args: { help: false, peer, info, dataDir, keyFile, ...(strict ? { strict } : {}), web, giveUpAfterS },
  };
}
