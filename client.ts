// Entry point: ./client <IP>:<PORT> tracker_info.txt [--data-dir DIR]
import yargs from "yargs";
import { hideBin } from "yargs/helpers";
import { parseAddress, parseTrackerInfo } from "./lib/config.ts";
import { ConfigError } from "./lib/errors.ts";
import { makeLog } from "./lib/cli/log.ts";
import { readLines } from "./lib/cli/stdin_lines.ts";
import { colour, runTerminal } from "./lib/cli/terminal.ts";
import { startClient } from "./lib/client/client.ts";
import { parseCommand } from "./lib/client/commands.ts";

const USAGE = "usage: ./client <IP>:<PORT> tracker_info.txt [--data-dir DIR]";
const argv = yargs(hideBin(process.argv))
  .scriptName("client")
  .usage(USAGE)
  .command("$0 <peer> <info>", "run a client that serves pieces on <peer>")
  .positional("peer", { type: "string", describe: "IP:PORT where this client serves file pieces" })
  .positional("info", { type: "string", describe: "tracker_info.txt" })
  .option("data-dir", { type: "string", describe: "where shares and downloads are remembered (default ./client-<PORT>.data)" })
  .strict()
  .fail((msg) => {
    console.error(`error: ${msg}: ${USAGE}`);
    process.exit(2);
  })
  .help()
  .parseSync();

const interactive = process.stdin.isTTY === true;
let client;
try {
  const peer = parseAddress(argv.peer!, "peer address");
  const text = await Bun.file(argv.info!).text().catch(() => {
    throw new ConfigError(`cannot read ${argv.info}: check the path`);
  });
  const trackers = parseTrackerInfo(text);
  client = startClient({
    peer,
    trackers,
    dataDir: argv["data-dir"] ?? `./client-${peer.port}.data`,
    interactive,
    log: makeLog("client"),
  });
} catch (err) {
  const e = err as { code?: string; message?: string };
  if (err instanceof ConfigError) {
    console.error(`error: ${e.message}`);
    process.exit(2);
  }
  if (e.code === "EADDRINUSE" || /in use/i.test(e.message ?? "")) {
    console.error(`error: ${argv.peer} is in use: pick another <IP>:<PORT> for this client`);
  } else {
    console.error(`error: ${e.message ?? String(err)}`);
  }
  process.exit(1);
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
