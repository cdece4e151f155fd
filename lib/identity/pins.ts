// Whom to trust at a tracker address: its pinned id, else the id first seen there (trust on
// first use, as SSH's accept-new), and the text form of the remembered ids. Pure.

/** What is known about the key expected at one tracker address. */
export interface Expected {
  /** How the user knows this tracker: `tracker 2 (tracker_info.txt line 3, 10.0.0.2:9001)`. */
  label: string;
  /** The id on the tracker_info.txt line, if it carries one. */
  pinned?: string | undefined;
  /** The id first seen at this address, if any was. */
  remembered?: string | undefined;
  /** Where remembered ids are kept, for the what-to-do text. */
  storePath: string;
}

export type PinVerdict = { ok: true; remember: boolean } | { ok: false; reason: string };

/** Whether the key `seen` may be trusted as the tracker `expected` describes. */
export function checkPin(expected: Expected, seen: string): PinVerdict {
  const { label, pinned, remembered } = expected;
  if (pinned !== undefined) {
    if (seen === pinned) return { ok: true, remember: false };
    return {
      ok: false,
      reason: `${label} presented id ${seen}, but its line pins id ${pinned}: refusing it (someone else answers at that address, or the line names another tracker; if that tracker's key was replaced on purpose, put the id its --id prints on the line)`,
    };
  }
  if (remembered === undefined) return { ok: true, remember: true };
  if (seen === remembered) return { ok: true, remember: false };
  return {
    ok: false,
    reason: `${label} presented id ${seen}, not the id ${remembered} first seen there: refusing it (someone may be impersonating it; if its key changed on purpose, e.g. its data dir was wiped, delete its line from ${expected.storePath} or pin the new id as the line's third field)`,
  };
}

/** Parses the remembered-ids file: `host:port id` per line; lines that are not are skipped. */
export function parseKnown(text: string): Map<string, string> {
  const known = new Map<string, string>();
  for (const line of text.split("\n")) {
    const [address, id, extra] = line.trim().split(/\s+/);
    if (address && id && extra === undefined && !address.startsWith("#")) known.set(address, id);
  }
  return known;
}

/** One line of the remembered-ids file. */
export function formatKnown(address: string, id: string): string {
  return `${address} ${id}\n`;
}
