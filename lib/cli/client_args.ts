// The client's command line: ./client <IP>:<PORT> tracker_info.txt [--data-dir DIR] [--key-file FILE] [--strict].
// Read by hand rather than with yargs (as the tracker's is): loading yargs costs ~12 MiB of
// resident memory, a fifth of the client's 64 MiB budget while it downloads, for one option.

export const CLIENT_USAGE =
  "usage: ./client <IP>:<PORT> tracker_info.txt [--data-dir DIR] [--key-file FILE] [--strict]";

export const CLIENT_HELP = `${CLIENT_USAGE}

Runs a client that serves file pieces on <IP>:<PORT> and reads commands from standard input.

  <IP>:<PORT>       where this client serves file pieces to other peers
  tracker_info.txt  the trackers, one "IP PORT" per line
  --data-dir DIR    where shares and downloads are remembered (default ./client-<PORT>.data)
  --key-file FILE   this client's private key (default <data-dir>/identity.key; made if missing, mode 0600)
  --strict          refuse tracker_info.txt lines without a tracker id (no trust on first use)
  -h, --help        show this help`;

export type ClientArgs =
  | { help: true }
  | {
      help: false;
      peer: string;
      info: string;
      dataDir?: string | undefined;
      keyFile?: string | undefined;
      strict?: boolean | undefined;
    };

/** Parses the arguments after the program name; `reason` is one line for `error: `. */
export function parseClientArgs(
  argv: readonly string[],
): { ok: true; args: ClientArgs } | { ok: false; reason: string } {
  const positional: string[] = [];
  let dataDir: string | undefined;
  let keyFile: string | undefined;
  let strict = false;
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
  return { ok: true, args: { help: false, peer, info, dataDir, keyFile, ...(strict ? { strict } : {}) } };
}
