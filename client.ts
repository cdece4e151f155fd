// Entry point: ./client <IP>:<PORT> tracker_info.txt [--data-dir DIR]
import yargs from "yargs";
import { hideBin } from "yargs/helpers";
import { parseAddress, parseTrackerInfo } from "./lib/config.ts";
import { ConfigError } from "./lib/errors.ts";
import { makeLog } from "./lib/cli/log.ts";
import { readLines } from "./lib/cli/stdin_lines.ts";
import { ClientApp } from "./lib/client/app.ts";
import { parseCommand } from "./lib/client/commands.ts";
import { TrackerLink } from "./lib/client/tracker_link.ts";

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

const log = makeLog("client");
let trackers;
let peer;
try {
  peer = parseAddress(argv.peer!, "peer address");
  const text = await Bun.file(argv.info!).text().catch(() => {
    throw new ConfigError(`cannot read ${argv.info}: check the path`);
  });
  trackers = parseTrackerInfo(text);
} catch (err) {
  console.error(`error: ${(err as Error).message}`);
  process.exit(2);
}

const interactive = process.stdin.isTTY === true;
const link = new TrackerLink(trackers, log);
const app = new ClientApp({
  peer: `${peer.host}:${peer.port}`,
  link,
  io: { out: (line) => console.log(line), err: (line) => console.error(line) },
});
const prompt = () => {
  if (interactive) process.stdout.write(`${app.user ?? "guest"}> `);
};

let exiting = false;
const exit = async () => {
  if (exiting) return;
  exiting = true;
  await app.shutdown();
  process.exit(0);
};
process.on("SIGTERM", () => void exit());
process.on("SIGINT", () => void exit());

prompt();
await readLines(
  async (line) => {
    const parsed = parseCommand(line);
    if (parsed && !parsed.ok) console.error(`error: ${parsed.reason}`);
    else if (parsed?.command.name === "quit") return exit();
    else if (parsed) await app.run(parsed.command);
    prompt();
  },
  () => void exit(),
);
