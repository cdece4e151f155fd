// Shell: the running client as the web page sees it: commands go through the terminal's own
// parser and dispatcher; downloads and shares are read-only views.
import type { ClientApp } from "../client/app.ts";
import { parseCommand } from "../client/commands.ts";
import type { Files } from "../client/files.ts";
import { formatDownload } from "../client/format.ts";
import type { TrackerLink } from "../client/tracker_link.ts";
import { messageOf } from "../errors.ts";
import type { Catalog } from "../peer/catalog.ts";
import type { WebBackend } from "./state.ts";

/** What of the client the page uses. */
export interface BackendParts {
  peer: string;
  app: ClientApp;
  link: TrackerLink;
  files: Files;
  catalog: Catalog;
  log: (line: string) => void;
}

export function webBackend(parts: BackendParts): WebBackend {
  const { app, link, files, catalog } = parts;
  return {
    peer: parts.peer,
    async run(line) {
      const parsed = parseCommand(line);
      if (parsed === undefined) return { ok: false, error: "empty command" };
      if (!parsed.ok) return { ok: false, error: parsed.reason };
      try {
        return { ok: true, lines: await app.execute(parsed.command) };
      } catch (err) {
        return { ok: false, error: messageOf(err) };
      }
    },
    user: () => app.user,
    tracker: () => link.tracker,
    downloads: () => files.downloads().map((d) => ({ ...d.view(), line: formatDownload(d) })),
    // Whole files only: a download in progress is shown with the downloads.
    shares: () =>
      catalog
        .entries()
        .filter((e) => e.have.isComplete())
        .map(({ group, name, path, sizeBytes }) => ({ group, name, path, sizeBytes })),
    log: parts.log,
  };
}
