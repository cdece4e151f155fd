// spec/unit/tracker/store_identity.spec.ts: which tracker a data dir belongs to. Data dirs written
// when node ids were line numbers are taken over by that line's tracker with their ops as they
// were; a data dir of another tracker is refused and left as it was.
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Replica } from "../../../lib/replica/replica.ts";
import { Store } from "../../../lib/tracker/store.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "store-identity-"));
  dirs.push(dir);
  return dir;
}

/** A data dir as the version that numbered trackers by line wrote it: tracker `line`, two ops of its own. */
function legacyDataDir(line: number): string {
  const dir = tempDir();
  const replica = new Replica(line, [line]);
  const store = new Store(dir, line);
  for (const user of ["u1", "u2"]) {
    const { op } = replica.local({ kind: "create_user", user, hash: "h" }, 1);
    store.append(op ? [op] : []);
  }
  store.close();
  return dir;
}

/** Opens, reads and closes: what the tracker's start does; the error message if refused. */
function open(dir: string, node: number, options: ConstructorParameters<typeof Store>[2] = {}) {
  try {
    const store = new Store(dir, node, options);
    const persisted = store.load(node);
    store.close();
    return { ops: persisted.ops.map((op) => `${op.origin}:${op.seq}`) };
  } catch (err) {
    return { refused: (err as Error).message }; // cast: Store throws Errors
  }
}

const NODE = 3_000_000_001;

describe("Store: whose data dir", () => {
  test("takes over a data dir of its line number from before node ids, keeping its ops and origin", () => {
    const dir = legacyDataDir(2);
    const logged: string[] = [];
    expect(open(dir, NODE, { line: 2, log: (l) => logged.push(l) })).toEqual({ ops: ["2:1", "2:2"] });
    expect(logged).toEqual([
      `data dir ${dir}: was tracker 2's by line number; now node ${NODE} of its address (its operations stay as they are)`,
    ]);
    // Bound now: the next start is an ordinary one, whatever line number the tracker has then.
    expect(open(dir, NODE, { line: 1 })).toEqual({ ops: ["2:1", "2:2"] });
  });

  test("refuses a data dir of another line number, touching nothing", () => {
    const dir = legacyDataDir(3);
    expect(open(dir, NODE, { line: 2 })).toEqual({
      refused: `data dir ${dir} belongs to tracker 3 (a line number, as trackers were numbered before node ids came from addresses), not tracker 2: pass its own data dir with --data-dir, or start tracker 3 on the file it ran with once to convert it`,
    });
    // Still tracker 3's: it converts when tracker 3 starts on it.
    expect(open(dir, NODE + 1, { line: 3 })).toEqual({ ops: ["3:1", "3:2"] });
  });

  test("refuses another tracker's data dir, unless its id is one this line had before", () => {
    const dir = tempDir();
    expect(open(dir, NODE)).toEqual({ ops: [] });
    expect(open(dir, NODE + 7, { line: 1 })).toEqual({
      refused: `data dir ${dir} belongs to node ${NODE}, not to this line's tracker (node ${NODE + 7}): pass this tracker's own data dir with --data-dir, or start it with an empty one to catch up from the others (a tracker that moved to another address without a pinned id is a new tracker)`,
    });
    // The same line pinned since: its address's id was NODE.
    expect(open(dir, NODE + 7, { formerIds: [NODE] })).toEqual({ ops: [] });
    expect(open(dir, NODE)).toMatchObject({
      refused: expect.stringContaining(`belongs to node ${NODE + 7}`),
    });
  });

  test("keeps whether the tracker is still catching up across a restart", () => {
    const dir = tempDir();
    const first = new Store(dir, NODE);
    expect(first.catchingUp).toBe(false);
    first.catchingUp = true;
    first.close();
    const second = new Store(dir, NODE);
    expect(second.catchingUp).toBe(true);
    second.catchingUp = false;
    second.close();
    const third = new Store(dir, NODE);
    expect(third.catchingUp).toBe(false);
    third.close();
  });
});
