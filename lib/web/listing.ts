// Reads the terminal's listing lines (list_groups, list_files) back into records for the page,
// so the page shows exactly what the commands print. Pure.

/** One `list_groups` line: `<id> owner=<user> members=<n> files=<n>`. */
export interface GroupRow {
  id: string;
  owner: string;
  members: number;
  files: number;
}

/** One `list_files` line: `<name> size=<bytes> seeders=<n>`. */
export interface FileRow {
  name: string;
  sizeBytes: number;
  seeders: number;
}

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
export function parseGroups(lines: readonly string[]): GroupRow[] {
  const rows: GroupRow[] = [];
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
export function parseFiles(lines: readonly string[]): FileRow[] {
  const rows: FileRow[] = [];
  for (const line of lines) {
    const f = fields(line, ["size", "seeders"]);
    if (f) rows.push({ name: f.head, sizeBytes: count(f.values[0]), seeders: count(f.values[1]) });
  }
  return rows;
}
