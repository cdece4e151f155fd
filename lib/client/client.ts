// Shell: one running client: tracker link, peer server, local store and commands, wired together.

import { colour } from "../cli/colour.ts";
import type { TrackerInfo } from "../config.ts";
import type { CoreOptions } from "../download/core.ts";
import type { TlsIdentity } from "../identity/key_file.ts";
import { TrackerTrust } from "../identity/tracker_trust.ts";
import { Catalog } from "../peer/catalog.ts";
import { startPeerServer } from "../peer/server.ts";
import { webBackend } from "../web/backend.ts";
import { startWebServer, type WebServer } from "../web/server.ts";
import { ClientApp } from "./app.ts";
import { ClientStore } from "./client_store.ts";
import { COMMANDS, isCommandName } from "./commands.ts";
import { Files } from "./files.ts";
import { TrackerLink } from "./tracker_link.ts";

export interface ClientOptions {
  peer: { host: string; port: number };
  trackers: TrackerInfo;
  dataDir: string;
  identity: TlsIdentity;
  interactive: boolean;
  log: (line: string) => void;
  /** Download limits and timings other than the defaults (--give-up-after). */
  downloads?: Partial<CoreOptions> | undefined;
}

/** A started client; `shutdown()` logs out and stops serving. */
export interface RunningClient {
  app: ClientApp;
  files: Files;
  /** The interactive prompt: who is logged in, through which tracker. */
  promptText(): string;
  /** Tab completion: commands, then group ids and file names seen so far. */
  complete(words: string[], partial: string): string[];
  /** Serves the web page on `address` (throws if it is taken); returns the URL to open. */
  startWeb(address: { host: string; port: number }): string;
  shutdown(): Promise<void>;
}

export function startClient(options: ClientOptions): RunningClient {
  const selfPeer = `${options.peer.host}:${options.peer.port}`;
  const link = new TrackerLink(options.trackers, options.log, {
    identity: options.identity,
    trust: new TrackerTrust(options.dataDir),
  });
  const catalog = new Catalog();
  const server = startPeerServer({
    host: options.peer.host,
    port: options.peer.port,
    catalog,
    identity: options.identity,
    log: options.log,
    notServed: (group, name) => files.notServed(group, name),
    verify: async (group, peer, { nonce, mac, who }) => {
      const { reply } = await link.request({
        t: "check_peer",
        group,
        peer,
        nonce,
        binding: who.binding,
        key: who.id,
        proof: mac,
      });
      return reply.ok ? { ok: true } : { ok: false, reason: reply.reason };
    },
  });
  const store = new ClientStore(options.dataDir);
  const progress = (line: string | undefined) => {
    if (!options.interactive) return;
    process.stdout.write(line === undefined ? "\r\x1b[2K" : `\r\x1b[2K${line}`);
  };
  const files = new Files({
    catalog,
    store,
    selfPeer,
    identity: options.identity,
    log: options.log,
    progress,
    downloads: options.downloads,
  });
  const app = new ClientApp({
    peer: selfPeer,
    link,
    files,
    io: {
      out: (line) => console.log(line),
      err: (line) => console.error(colour("red", line, process.stderr)),
    },
  });
  let web: WebServer | undefined;
  return {
    app,
    files,
    startWeb(address) {
      const backend = webBackend({ peer: selfPeer, app, link, files, catalog, log: options.log });
      web = startWebServer({ address, backend });
      return web.url;
    },
    promptText() {
      const t = link.tracker;
      const active = files.downloads().filter((d) => d.state === "downloading");
      const progress =
        active.length === 0
          ? ""
          : ` [${active.map((d) => `${d.spec.name} ${d.progress().percent}%`).join(", ")}]`;
      return `${colour("bold", app.user ?? "guest", process.stdout)}${t ? colour("dim", `@tracker${t.no}`, process.stdout) : ""}${progress}> `;
    },
    complete(words, partial) {
      const candidates = words.length === 0 ? Object.keys(COMMANDS) : argumentCandidates(words, app, files);
      return candidates.filter((c) => c.startsWith(partial)).sort();
    },
    async shutdown() {
      web?.stop();
      await app.shutdown();
      server.stop(true);
      store.close();
    },
  };
}

/** What may stand at the next argument of the command in `words`. */
function argumentCandidates(words: string[], app: ClientApp, files: Files): string[] {
  const [name = ""] = words;
  if (!isCommandName(name)) return [];
  const args: readonly string[] = COMMANDS[name].args;
  const arg = args[words.length - 1];
  if (arg === "group_id") return [...app.seen.groups];
  if (arg === "file_name") return [...files.seen];
  if (arg === "[command]") return Object.keys(COMMANDS);
  return [];
}
