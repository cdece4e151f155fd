// Shell: completes a path typed into the page from this machine's files (the share and
// destination fields), like a shell's Tab.
import { readdirSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";

/** Entries returned at most: a completion list, not a directory listing. */
const MAX_COMPLETIONS = 50;

/** Paths that start with `partial`, sorted; directories end with `/`; dot files only when typed. */
export function completePath(partial: string): string[] {
  const full = partial === "" ? `${resolve(".")}/` : partial;
  const dir = full.endsWith("/") ? full : dirname(full);
  const prefix = full.endsWith("/") ? "" : basename(full);
  let names: string[];
  try {
    names = readdirSync(resolve(dir));
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const name of names.sort()) {
    if (!name.startsWith(prefix) || (name.startsWith(".") && !prefix.startsWith("."))) continue;
    const path = join(dir, name);
    let isDir = false;
    try {
      isDir = statSync(path).isDirectory();
    } catch {} // vanished or unreadable: offered as a file
    out.push(isDir ? `${path}/` : path);
    if (out.length >= MAX_COMPLETIONS) break;
  }
  return out;
}
