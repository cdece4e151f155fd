// Shell: what the page shows, read through the same commands the terminal runs (list_groups,
// list_requests, list_files) plus the client's read-only download views.
import type { DownloadView } from "../download/view.ts";
import type { FileSummary, GroupSummary } from "../wire/tracker_replies.ts";
import { type GroupListCache, parseFiles, parseGroups } from "./listing.ts";

/** A command's result as the terminal would print it: its lines, or its one error. */
export type CommandOutcome = { ok: true; lines: string[] } | { ok: false; error: string };

/** A download with its `show_downloads` line. */
export type DownloadRow = DownloadView & { line: string };

/** A file this client serves. */
export interface ShareRow {
  group: string;
  name: string;
  path: string;
  sizeBytes: number;
}

/** What the web page needs from the running client. */
export interface WebBackend {
  /** This client's peer address. */
  peer: string;
  /** Runs one command line exactly as if typed on the terminal. */
  run(line: string): Promise<CommandOutcome>;
  user(): string | undefined;
  tracker(): { no: number; host: string; port: number } | undefined;
  downloads(): DownloadRow[];
  shares(): ShareRow[];
  log(line: string): void;
}

/** Everything the page draws, pushed on every change. */
export interface PageState {
  peer: string;
  user: string | null;
  tracker: string | null;
  /** Set once the client moved to another tracker while logged in. */
  failover: string | null;
  groups: GroupSummary[];
  /** Pending join requests of the groups this user owns. */
  requests: Record<string, string[]>;
  /** Files of owned and opened groups, or why they could not be listed. */
  files: Record<string, FileSummary[] | { error: string }>;
  shares: ShareRow[];
  downloads: DownloadRow[];
  /** Why the listings could not be refreshed, if they could not. */
  error: string | null;
}

/** Remembers the tracker across refreshes, to notice a failover. */
export class FailoverWatch {
  #last: number | undefined;
  #note: string | null = null;

  /** Feeds the tracker in use now; returns the failover note, if any. */
  see(tracker: number | undefined, loggedIn: boolean, atText: string): string | null {
    if (!loggedIn) {
      this.#last = undefined;
      this.#note = null;
    } else if (tracker !== undefined) {
      if (this.#last !== undefined && tracker !== this.#last)
        this.#note = `failed over from tracker ${this.#last} to tracker ${tracker} at ${atText}`;
      this.#last = tracker;
    }
    return this.#note;
  }
}

/** Groups whose requests and files are read each refresh: each costs a tracker request per second. */
export const MAX_POLLED_GROUPS = 20;

/** Options of readState. */
export interface ReadStateOptions {
  /** Groups whose files the page shows (besides the owned ones). */
  open: readonly string[];
  failover: FailoverWatch;
  /** The user's group list, kept between refreshes when it is long. */
  groups: GroupListCache;
}

/** Reads the page's state through the terminal's commands and the client's views. */
export async function readState(backend: WebBackend, options: ReadStateOptions): Promise<PageState> {
  const { open, failover, groups: groupCache } = options;
  const user = backend.user();
  const t = backend.tracker();
  const state: PageState = {
    peer: backend.peer,
    user: user ?? null,
    tracker: t ? `tracker ${t.no} (${t.host}:${t.port})` : null,
    failover: failover.see(t?.no, user !== undefined, new Date().toISOString().slice(11, 19)),
    groups: [],
    requests: {},
    files: {},
    shares: backend.shares(),
    downloads: backend.downloads(),
    error: null,
  };
  if (user === undefined) return state;
  const kept = groupCache.get(user, Date.now());
  if (kept) state.groups = kept;
  else {
    const groups = await backend.run("list_groups");
    if (!groups.ok) return { ...state, error: groups.error };
    state.groups = parseGroups(groups.lines);
    groupCache.set(user, state.groups, Date.now());
  }
  const known = new Set(state.groups.map((g) => g.id));
  const opened = open.filter((g) => known.has(g)).slice(0, MAX_POLLED_GROUPS);
  const owned = state.groups
    .filter((g) => g.owner === user)
    .map((g) => g.id)
    .slice(0, Math.max(0, MAX_POLLED_GROUPS - opened.length));
  const shown = [...new Set([...opened, ...owned])];
  await Promise.all([
    ...owned.map(async (g) => {
      const r = await backend.run(`list_requests ${g}`);
      if (r.ok) state.requests[g] = r.lines;
    }),
    ...shown.map(async (g) => {
      const r = await backend.run(`list_files ${g}`);
      state.files[g] = r.ok ? parseFiles(r.lines) : { error: r.error };
    }),
  ]);
  return state;
}
