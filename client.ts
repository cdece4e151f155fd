// Entry point: ./client <IP>:<PORT> tracker_info.txt [--data-dir DIR] [--key-file FILE] [--strict] [--web [IP:]PORT]
import { join } from "node:path";
import { CLIENT_HELP, CLIENT_USAGE, parseClientArgs } from "./lib/cli/client_args.ts";
import { colour } from "./lib/cli/colour.ts";
import { makeLog } from "./lib/cli/log.ts";
import { readLines } from "./lib/cli/stdin_lines.ts";
import { type RunningClient, startClient } from "./lib/client/client.ts";
import { parseCommand } from "./lib/client/commands.ts";
import { parseAddress, parseTrackerInfo, requirePins } from "./lib/config.ts";
import { ConfigError, messageOf } from "./lib/errors.ts";
import { DEFAULT_KEY_FILE, loadIdentity } from "./lib/identity/key_file.ts";

const parsedArgs = parseClientArgs(process.argv.slice(2));
if (!parsedArgs.ok) {
  console.error(`error: ${parsedArgs.reason}: ${CLIENT_USAGE}`);
  process.exit(2);
}
if (parsedArgs.args.help) {
  console.log(CLIENT_HELP);
  process.exit(0);
}
const argv = parsedArgs.args;

const interactive = process.stdin.isTTY === true;
let client: RunningClient;
try {
  const peer = parseAddress(argv.peer, "peer address");
  const text = await Bun.file(argv.info)
    .text()
    .catch(() => {
      throw new ConfigError(`cannot read ${argv.info}: check the path`);
    });
  const trackers = parseTrackerInfo(text);
  if (argv.strict) requirePins(trackers);
  const dataDir = argv.dataDir ?? `./client-${peer.port}.data`;
  client = startClient({
    peer,
    trackers,
    dataDir,
    identity: await loadIdentity(argv.keyFile ?? join(dataDir, DEFAULT_KEY_FILE)),
    interactive,
    log: makeLog("client"),
    downloads: argv.giveUpAfterS === undefined ? {} : { giveUpMs: argv.giveUpAfterS * 1000 },
  });
} catch (err) {
  const code = typeof err === "object" && err !== null && "code" in err ? err.code : undefined;
  const message = messageOf(err);
  if (err instanceof ConfigError) {
    console.error(`error: ${message}`);
    process.exit(2);
  }
  if (code === "EADDRINUSE" || /in use/i.test(message)) {
    console.error(`error: ${argv.peer} is in use: pick another <IP>:<PORT> for this client`);
  } else {
    console.error(`error: ${message}`);
  }
  process.exit(1);
}

if (argv.web) {
  try {
    console.log(`web: ${client.startWeb(argv.web)}`);
  } catch (err) {
    console.error(`error: cannot serve the web page on ${argv.web.host}:${argv.web.port}: ${messageOf(err)}`);
    await client.shutdown();
    process.exit(1);
  }
}

let exiting = false;
const exit = async () => {
  if (exiting) return;
  exiting = true;
  await client.shutdown();
  process.exit(0);
};
process.on("SIGTERM", () => void exit());
process.on("SIGINT", () => void exit());

if (interactive) {
  const { runTerminal } = await import("./lib/cli/terminal.ts");
  runTerminal({
    prompt: () => client.promptText(),
    complete: (words, partial) => client.complete(words, partial),
    line: (text) => runLine(text),
    end: () => void exit(),
  });
} else {
  await readLines(runLine, () => void exit());
}

async function runLine(line: string): Promise<void> {
  const parsed = parseCommand(line);
  if (parsed && !parsed.ok) console.error(colour("red", `error: ${parsed.reason}`, process.stderr));
  else if (parsed?.command.name === "quit") await exit();
  else if (parsed) await client.app.run(parsed.command);
}
