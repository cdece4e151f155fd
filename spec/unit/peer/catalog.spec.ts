// spec/unit/peer/catalog.spec.ts: a downloader connecting to us for a file is introduced to
// whoever downloads that file here (so it is fetched from at once), and to nobody else.
import { describe, expect, test } from "bun:test";
import { Catalog } from "../../../lib/peer/catalog.ts";

describe("Catalog introductions", () => {
  test("reach the listeners of that file only, until they unsubscribe", () => {
    const catalog = new Catalog();
    const heard: string[] = [];
    const stop = catalog.watchPeers("g", "a.bin", (peer) => heard.push(`a ${peer}`));
    catalog.watchPeers("g", "b.bin", (peer) => heard.push(`b ${peer}`));
    catalog.introduce("g", "a.bin", "10.0.0.2:7000");
    catalog.introduce("h", "a.bin", "10.0.0.3:7000"); // same name, another group
    stop();
    catalog.introduce("g", "a.bin", "10.0.0.4:7000");
    expect(heard).toEqual(["a 10.0.0.2:7000"]);
  });
});
