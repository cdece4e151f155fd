// spec/unit/tracker/largest_file.spec.ts: the largest file a tracker takes (MAX_PIECE_HASH_BYTES of
// piece hashes, 1 TiB) round-trips through the tracker's store (as an op and inside a compacted
// base) and through the client's own share and download records.
import { afterEach, describe, expect, test } from "bun:test";
import { ClientStore } from "../../../lib/client/client_store.ts";
import { PIECE_BYTES } from "../../../lib/pieces/constants.ts";
import type { Change } from "../../../lib/replica/change.ts";
import { Replica } from "../../../lib/replica/replica.ts";
import { Store } from "../../../lib/tracker/store.ts";
import { MAX_PIECE_HASH_BYTES, MAX_PIECES } from "../../../lib/wire/tracker_protocol.ts";
import { makeTempDir, stopAll } from "../../helpers/processes.ts";

afterEach(stopAll); // removes the temp dirs

/** The largest piece-hash list, with bytes that differ from piece to piece. */
function largestPieces(): Uint8Array {
  const pieces = new Uint8Array(MAX_PIECE_HASH_BYTES);
  const view = new DataView(pieces.buffer);
  for (let i = 0; i < MAX_PIECES; i++) view.setUint32(i * 20, i * 2_654_435_761);
  return pieces;
}

const file = () => ({
  name: "disk.img",
  sizeBytes: MAX_PIECES * PIECE_BYTES,
  sha1: new Uint8Array(20).fill(7),
  pieces: largestPieces(),
});

describe("a 1 TiB file's 40 MiB of piece hashes", () => {
  test("is kept by the tracker's store as an op and in a compacted base", async () => {
    const r = new Replica(1, [1]);
    const share = file();
    const changes: Change[] = [
      { kind: "create_user", user: "u", hash: "h" },
      { kind: "login", user: "u", hash: "h", session: "s", peer: "127.0.0.1:9", key: "k" },
      { kind: "create_group", user: "u", session: "s", group: "g" },
      { kind: "share", user: "u", session: "s", group: "g", file: share },
    ];
    for (const change of changes) expect(r.local(change, 1).outcome).toEqual({ ok: true });
    const dir = await makeTempDir();
    const store = new Store(dir, 1);
    store.append(r.ops);
    const loaded = store.load(1);
    store.close();
    const op = loaded.ops.at(-1);
    expect(op?.change.kind === "share" && Buffer.compare(op.change.file.pieces, share.pieces)).toBe(0);

    // Folded into a base, saved, loaded again: the same hashes.
    const again = Replica.restore(1, [1], loaded);
    again.compact(100);
    const reopened = new Store(dir, 1);
    reopened.saveBase(again.baseImage());
    const persisted = reopened.load(1);
    reopened.close();
    expect(persisted.ops).toEqual([]);
    const restored = Replica.restore(1, [1], persisted);
    const kept = restored.state.groups.get("g")?.files.get("disk.img");
    expect(kept?.pieces.byteLength).toBe(MAX_PIECE_HASH_BYTES);
    expect(Buffer.compare(kept?.pieces ?? new Uint8Array(0), share.pieces)).toBe(0);
  }, 30_000);

  test("is kept by the client's share and download records", async () => {
    const dir = await makeTempDir();
    const store = new ClientStore(dir);
    const { name, sizeBytes, sha1, pieces } = file();
    const record = { user: "u", group: "g", name, sizeBytes, sha1, pieces };
    store.putShare({ ...record, path: "/tmp/disk.img", mtimeMs: 1 });
    store.putDownload({ ...record, dest: "/tmp/out.img", partPath: "/tmp/.out.img.part" });
    store.close();
    const reopened = new ClientStore(dir);
    const [share] = reopened.shares("u");
    const [download] = reopened.downloads("u");
    reopened.close();
    expect(Buffer.compare(share?.pieces ?? new Uint8Array(0), pieces)).toBe(0);
    expect(Buffer.compare(download?.pieces ?? new Uint8Array(0), pieces)).toBe(0);
  });
});
