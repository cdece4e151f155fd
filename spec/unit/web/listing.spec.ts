// spec/unit/web/listing.spec.ts: the terminal's listing lines read back for the page, and the failover note.
import { describe, expect, test } from "bun:test";
import { GroupListCache, parseFiles, parseGroups } from "../../../lib/web/listing.ts";
import { FailoverWatch } from "../../../lib/web/state.ts";

describe("parseGroups", () => {
  test("reads list_groups lines and skips lines of another shape", () => {
    expect(
      parseGroups([
        "g1 owner=alice members=2 files=3",
        "<b>x owner=<i>bob members=1 files=0",
        "warning: something",
        "g2 owner=a members=x files=1",
      ]),
    ).toEqual([
      { id: "g1", owner: "alice", members: 2, files: 3 },
      { id: "<b>x", owner: "<i>bob", members: 1, files: 0 },
      { id: "g2", owner: "a", members: 0, files: 1 },
    ]);
  });
});

describe("parseFiles", () => {
  test("reads list_files lines: name, size in bytes, seeders", () => {
    expect(
      parseFiles(["film.bin size=67108864 seeders=2", "film.bin size=1", "a=b size=0 seeders=0"]),
    ).toEqual([
      { name: "film.bin", sizeBytes: 67108864, seeders: 2 },
      { name: "a=b", sizeBytes: 0, seeders: 0 },
    ]);
  });
});

describe("FailoverWatch", () => {
  test("notes a change of tracker while logged in, and forgets it at logout", () => {
    const w = new FailoverWatch();
    expect(w.see(1, true, "10:00:00")).toBeNull();
    expect(w.see(undefined, true, "10:00:01")).toBeNull(); // between trackers: no change yet
    expect(w.see(2, true, "10:00:02")).toBe("failed over from tracker 1 to tracker 2 at 10:00:02");
    expect(w.see(2, true, "10:00:03")).toBe("failed over from tracker 1 to tracker 2 at 10:00:02");
    expect(w.see(2, false, "10:00:04")).toBeNull();
    expect(w.see(1, true, "10:00:05")).toBeNull(); // a new login starts afresh
  });
});

describe("GroupListCache", () => {
  const rows = (n: number) =>
    Array.from({ length: n }, (_, i) => ({ id: `g${i}`, owner: "a", members: 1, files: 0 }));

  test("keeps a list 1 ms per group it holds, up to 30 s, for its user only", () => {
    const c = new GroupListCache();
    c.set("alice", rows(500), 0);
    expect(c.get("alice", 499)?.length).toBe(500);
    expect(c.get("alice", 500)).toBeUndefined(); // 500 groups: re-read after 0.5 s
    expect(c.get("bob", 0)).toBeUndefined();
    c.set("alice", rows(40_000), 0);
    expect(c.get("alice", 29_999)?.length).toBe(40_000);
    expect(c.get("alice", 30_000)).toBeUndefined();
    c.clear();
    expect(c.get("alice", 1)).toBeUndefined();
  });

  test("keeps an empty list not at all", () => {
    const c = new GroupListCache();
    c.set("alice", [], 0);
    expect(c.get("alice", 0)).toBeUndefined();
  });
});
