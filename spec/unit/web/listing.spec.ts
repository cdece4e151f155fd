// spec/unit/web/listing.spec.ts: the terminal's listing lines read back for the page.
import { describe, expect, test } from "bun:test";
import { parseFiles, parseGroups } from "../../../lib/web/listing.ts";

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
