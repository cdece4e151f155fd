import { describe, expect, test } from "bun:test";
import { AddressLimit } from "../../../lib/wire/address_limit.ts";

describe("AddressLimit", () => {
  test("admits up to the cap per address, independently for each address", () => {
    const limit = new AddressLimit(2);
    expect([limit.admit("a"), limit.admit("a"), limit.admit("a"), limit.admit("b")]).toEqual([
      true,
      true,
      false,
      true,
    ]);
  });

  test("admits again once a connection is released", () => {
    const limit = new AddressLimit(1);
    expect(limit.admit("a")).toBe(true);
    limit.release("a");
    expect(limit.admit("a")).toBe(true);
    expect(limit.admit("a")).toBe(false);
  });
});
