// spec/unit/peer/arriving.spec.ts: a piece forwarded while it arrives: its bytes are read only
// while they are there, its end is told once, and the catalog offers it (p_soon) and settles it.
import { describe, expect, test } from "bun:test";
import { ArrivingPiece } from "../../../lib/peer/arriving.ts";
import { Catalog, type Served } from "../../../lib/peer/catalog.ts";
import { Bitfield } from "../../../lib/pieces/bitfield.ts";

function served(): Served {
  return { group: "g", name: "f", path: "/x", sizeBytes: 4 * 512 * 1024, have: new Bitfield(4) };
}

describe("ArrivingPiece", () => {
  test("lends only the bytes received, tells each growth, and ends once", () => {
    const bytes = Uint8Array.from({ length: 100 }, (_, i) => i);
    const piece = new ArrivingPiece(2, bytes);
    const told: string[] = [];
    piece.listen(() => told.push(`${piece.state} ${piece.received}`));
    piece.grew(40);
    piece.grew(30); // older news: nothing
    expect(piece.slice(10, 40)).toEqual(bytes.subarray(10, 40));
    expect(() => piece.slice(0, 41)).toThrow(RangeError);
    piece.whole();
    piece.lost(); // already over
    piece.grew(100);
    expect(told).toEqual(["arriving 40", "whole 40"]);
    expect(() => piece.slice(0, 1)).toThrow(RangeError); // its buffer went back to the pool
  });
});

describe("Catalog and arriving pieces", () => {
  test("a piece is offered as it starts to arrive, once per copy, never when held", () => {
    const catalog = new Catalog();
    const entry = served();
    catalog.add(entry);
    const heard: string[] = [];
    catalog.watch("g", "f", (index, soon, offered) =>
      heard.push(`${soon ? "soon" : offered ? "have (offered)" : "have"} ${index}`),
    );
    const first = new ArrivingPiece(1, new Uint8Array(10));
    expect(catalog.arriving("g", "f", first)).toBe(true);
    expect(catalog.arriving("g", "f", new ArrivingPiece(1, new Uint8Array(10)))).toBe(false); // one copy at a time
    first.lost();
    expect(entry.arriving?.has(1)).toBe(false);
    expect(entry.soon?.has(1)).toBe(true); // asked for meanwhile, it is still sent once here
    expect(catalog.arriving("g", "f", new ArrivingPiece(1, new Uint8Array(10)))).toBe(true); // again: told again
    catalog.announce("g", "f", 1);
    expect(catalog.arriving("g", "f", new ArrivingPiece(1, new Uint8Array(10)))).toBe(false);
    expect(catalog.arriving("g", "h", new ArrivingPiece(0, new Uint8Array(10)))).toBe(false); // not served
    catalog.announce("g", "f", 2); // never offered early: its watchers must hear of it
    expect(heard).toEqual(["soon 1", "soon 1", "have (offered) 1", "have 2"]);
    expect(entry.soon?.has(1)).toBe(false);
  });

  test("a piece held by another copy leaves the one still arriving lost: its forwards start over", () => {
    const catalog = new Catalog();
    const entry = served();
    catalog.add(entry);
    const slow = new ArrivingPiece(3, new Uint8Array(10));
    catalog.arriving("g", "f", slow);
    slow.grew(5);
    catalog.announce("g", "f", 3); // an endgame copy from another peer checked first
    expect(slow.state).toBe("lost");
    expect(entry.arriving?.has(3)).toBe(false);
  });
});
