// Entry point: ./tracker tracker_info.txt <tracker_no> [--id] [--data-dir DIR] [--key-file FILE] [--strict] [--secret-file FILE] [--fsync] [--session-expiry SECONDS]
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import yargs from "yargs";
import { hideBin } from "yargs/helpers";
import { makeLog } from "./lib/cli/log.ts";
import { readLines } from "./lib/cli/stdin_lines.ts";
import { nodeIdOf, parseTrackerInfo, requirePins } from "./lib/config.ts";
import { ConfigError, messageOf } from "./lib/errors.ts";
import { DEFAULT_KEY_FILE, loadIdentity } from "./lib/identity/key_file.ts";
import { LIVE_WINDOW_MS } from "./lib/tracker/liveness.ts";
import { trackerStatus } from "./lib/tracker/status.ts";
import { Store } from "./lib/tracker/store.ts";
import { startTracker } from "./lib/tracker/tracker.ts";

const argv = yargs(hideBin(process.argv))
  .scriptName("tracker")
  .usage(
    "usage: ./tracker tracker_info.txt <tracker_no> [--id] [--data-dir DIR] [--key-file FILE] [--strict] [--secret-file FILE] [--fsync] [--session-expiry SECONDS]",
  )
  .command("$0 <info> <no>", "run tracker <no> of the cluster in <info>")
  .positional("info", { type: "string", describe: "tracker_info.txt" })
  .positional("no", { type: "number", describe: "this tracker's line number (from 1)" })
  .option("data-dir", { type: "string", describe: "where the state is kept (default ./tracker-<no>.data)" })
  .option("key-file", {
    type: "string",
    describe: "this tracker's private key (default <data-dir>/identity.key; made if missing, mode 0600)",
  })
  .option("id", { type: "boolean", default: false, describe: "print this tracker's id and exit" })
  .option("strict", {
    type: "boolean",
    default: false,
    describe: "refuse tracker_info.txt lines without an id (no trust on first use)",
  })
  .option("secret-file", {
    type: "string",
    describe: "file holding the cluster's shared sync secret (or set TRACKER_SECRET)",
  })
  .option("session-expiry", {
    type: "number",
    default: 600,
    describe: "seconds after which the session of a client unheard by every tracker ends",
  })
  .option("fsync", {
    type: "boolean",
    default: false,
    describe: "fsync every commit (survives power loss, slower)",
  })
  .strict()
  .fail((msg) => {
    console.error(
      `error: ${msg}: usage: ./tracker tracker_info.txt <tracker_no> [--id] [--data-dir DIR] [--key-file FILE] [--strict]`,
    );
    process.exit(2);
  })
  .help()
  .parseSync();

const log = makeLog(`tracker-${argv.no}`);
try {
  // yargs demands both positionals ("$0 <info> <no>") but types them as optional.
  const { info, no } = argv;
  if (info === undefined || no === undefined) throw new ConfigError("missing tracker_info.txt or tracker_no");
  const infoText = await Bun.file(info)
    .text()
    .catch(() => {
      throw new ConfigError(`cannot read ${info}: check the path`);
    });
  const trackers = parseTrackerInfo(infoText);
  const me = trackers[no - 1];
  if (!Number.isInteger(no) || me === undefined) {
    throw new ConfigError(`tracker_no must be 1..${trackers.length} (the lines of ${info}): got ${no}`);
  }
  const dataDir = argv["data-dir"] ?? `./tracker-${no}.data`;
  if (argv["data-dir"] === undefined) refuseDefaultDataDirOfAnother(dataDir, nodeIdOf(me));
  const identity = await loadIdentity(argv["key-file"] ?? join(dataDir, DEFAULT_KEY_FILE));
  if (argv.id) {
    console.log(identity.id);
    process.exit(0);
  }
  if (me.id !== undefined && me.id !== identity.id)
    throw new ConfigError(
      `tracker_info.txt line ${me.line} pins id ${me.id} for this tracker, but its key (${argv["key-file"] ?? join(dataDir, DEFAULT_KEY_FILE)}) has id ${identity.id}: use the key that id belongs to (--key-file), or put this id on the line`,
    );
  if (argv.strict) requirePins(trackers, no);
  const secretText = argv["secret-file"]
    ? await Bun.file(argv["secret-file"]).text()
    : process.env.TRACKER_SECRET;
  const secret = secretText?.trim() || undefined;
  const tracker = startTracker({
    trackers,
    no,
    dataDir,
    secret,
    identity,
    fsync: argv.fsync,
    sessionExpiryMs: sessionExpirySeconds(argv["session-expiry"]) * 1000,
    log,
  });
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    tracker.stop();
    log("stopped");
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  console.log(
    `tracker ${no} listening on ${me.host}:${tracker.port} id ${identity.id}${secret ? " (sync secret set)" : ""}`,
  );
  void readLines(
    (line) => {
      const cmd = line.trim();
      if (cmd === "quit" || cmd === "exit") stop();
      else if (cmd === "status") console.log(trackerStatus(tracker));
      else if (cmd !== "")
        console.error(`error: unknown command "${cmd}": tracker commands are status and quit`);
    },
    () => {}, // stdin closed (e.g. started in the background): keep serving
  );
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(`error: ${err.message}`);
    process.exit(2);
  }
  const code = typeof err === "object" && err !== null && "code" in err ? err.code : undefined;
  const message = messageOf(err);
  if (code === "EADDRINUSE" || /address.*in use/i.test(message)) {
    console.error(
      `error: port in use: another process listens on this tracker's address; stop it or edit tracker_info.txt`,
    );
    process.exit(1);
  }
  console.error(`error: ${message}`);
  process.exit(1);
}

/**
 * The default data dir follows the line number, which changes when a line above is removed: a
 * tracker started without --data-dir whose default is new, while another `./tracker-N.data`
 * here holds its state, would start empty. Refused instead, saying which one to pass.
 */
function refuseDefaultDataDirOfAnother(dataDir: string, node: number): void {
  if (existsSync(dataDir)) return;
  const own = readdirSync(".")
    .filter((name) => /^tracker-\d+\.data$/.test(name))
    .find((name) => Store.nodeOf(name) === node);
  if (own)
    throw new ConfigError(
      `${dataDir} does not exist, but ./${own} holds this tracker's state (its line number changed): pass --data-dir ./${own}`,
    );
}

/** At least 3 heartbeats: a live client is never taken for a vanished one. */
function sessionExpirySeconds(value: number): number {
  const min = LIVE_WINDOW_MS / 1000;
  if (!Number.isFinite(value) || value < min)
    throw new ConfigError(`--session-expiry must be a number of seconds, at least ${min}: got ${value}`);
  return value;
}
