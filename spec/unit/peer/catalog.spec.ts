// spec/unit/peer/catalog.spec.ts: a downloader connecting to us for a file is introduced to
// whoever downloads that file here (so it is fetched from at once), with the key its session
// registered (so it can be dialled back before any peer list names it), and to nobody else.
import { describe, expect, test } from "bun:test";
import { Catalog } from "../../../lib/peer/catalog.ts";

describe("Catalog introductions", () => {
  test("reach the listeners of that file only, until they unsubscribe", () => {
    const catalog = new Catalog();
    const heard: string[] = [];
    const stop = catalog.watchPeers("g", "a.bin", (peer, key) => heard.push(`a ${peer} ${key}`));
    catalog.watchPeers("g", "b.bin", (peer, key) => heard.push(`b ${peer} ${key}`));
    catalog.introduce("g", "a.bin", "10.0.0.2:7000", "key-2");
    catalog.introduce("h", "a.bin", "10.0.0.3:7000", "key-3"); // same name, another group
    stop();
    catalog.introduce("g", "a.bin", "10.0.0.4:7000", "key-4");
    expect(heard).toEqual(["a 10.0.0.2:7000 key-2"]);
  });
});
