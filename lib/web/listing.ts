// Reads the terminal's listing lines (list_groups, list_files) back into records for the page,
// so the page shows exactly what the commands print, and paces re-reading a long group list. Pure.

import type { FileSummary, GroupSummary } from "../wire/tracker_replies.ts";

/** Splits `head k=v k=v` (names never hold spaces); undefined if the line has another shape. */
function fields(line: string, keys: readonly string[]): { head: string; values: string[] } | undefined {
  const words = line.split(" ");
  if (words.length !== keys.length + 1) return undefined;
  const [head = "", ...rest] = words;
  const values: string[] = [];
  for (const [i, key] of keys.entries()) {
    const word = rest[i] ?? "";
    if (!word.startsWith(`${key}=`)) return undefined;
    values.push(word.slice(key.length + 1));
  }
  return { head, values };
}

function count(text: string | undefined): number {
  const n = Number(text);
  return Number.isSafeInteger(n) && n >= 0 ? n : 0;
}

/** Parses `list_groups` output; lines of another shape are skipped. */
export function parseGroups(lines: readonly string[]): GroupSummary[] {
  const rows: GroupSummary[] = [];
  for (const line of lines) {
    const f = fields(line, ["owner", "members", "files"]);
    if (f)
      rows.push({
        id: f.head,
        owner: f.values[0] ?? "",
        members: count(f.values[1]),
        files: count(f.values[2]),
      });
  }
  return rows;
}

/** Parses `list_files` output; lines of another shape are skipped. */
export function parseFiles(lines: readonly string[]): FileSummary[] {
  const rows: FileSummary[] = [];
  for (const line of lines) {
    const f = fields(line, ["size", "seeders"]);
    if (f) rows.push({ name: f.head, sizeBytes: count(f.values[0]), seeders: count(f.values[1]) });
  }
  return rows;
}

/** Options of GroupListCache. */
export interface GroupListCacheOptions {
  /** How long a list may be kept, per group in it: 1,000 groups are re-read every second. */
  msPerGroup?: number;
  /** The longest a list is kept, however long. */
  maxAgeMs?: number;
}

/**
 * The last `list_groups` of the page's user, kept longer the longer it is: the page refreshes
 * every second, and a state of 40,000 groups is a megabyte-sized reply each time. A page
 * command clears it, so the page's own changes show at once.
 */
export class GroupListCache {
  #msPerGroup: number;
  #maxAgeMs: number;
  #entry: { user: string; rows: GroupSummary[]; atMs: number } | undefined;

  constructor(options: GroupListCacheOptions = {}) {
    this.#msPerGroup = options.msPerGroup ?? 1;
    this.#maxAgeMs = options.maxAgeMs ?? 30_000;
  }

  /** The kept list of `user` if it is still young enough at `nowMs`. */
  get(user: string, nowMs: number): GroupSummary[] | undefined {
    const e = this.#entry;
    if (e === undefined || e.user !== user) return undefined;
    const keepMs = Math.min(this.#maxAgeMs, e.rows.length * this.#msPerGroup);
    return nowMs - e.atMs < keepMs ? e.rows : undefined;
  }

  set(user: string, rows: GroupSummary[], nowMs: number): void {
    this.#entry = { user, rows, atMs: nowMs };
  }

  clear(): void {
    this.#entry = undefined;
  }
}
