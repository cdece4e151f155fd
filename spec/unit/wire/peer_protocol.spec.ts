// spec/unit/wire/peer_protocol.spec.ts: the optional fields of peer messages are checked, not trusted.
import { describe, expect, test } from "bun:test";
import { ProtocolError } from "../../../lib/errors.ts";
import { MAX_PIECE_INDEX, PIECE_PART_BYTES, parsePeerMessage } from "../../../lib/wire/peer_protocol.ts";

describe("parsePeerMessage", () => {
  test("a request says how many pieces its downloader lacks, or nothing", () => {
    expect(parsePeerMessage({ t: "p_request", index: 3, missing: 120 })).toEqual({
      t: "p_request",
      index: 3,
      missing: 120,
    });
    expect(parsePeerMessage({ t: "p_request", index: 3 })).toEqual({ t: "p_request", index: 3 });
    expect(parsePeerMessage({ t: "p_request", index: 0, missing: MAX_PIECE_INDEX })).toMatchObject({
      missing: MAX_PIECE_INDEX,
    });
  });

  test.each([-1, 1.5, MAX_PIECE_INDEX + 1, "7", null, 2 ** 53])(
    "a request with missing = %p is refused as a protocol error",
    (missing) => {
      expect(() => parsePeerMessage({ t: "p_request", index: 3, missing })).toThrow(ProtocolError);
      expect(() => parsePeerMessage({ t: "p_request", index: 3, missing })).toThrow(/"missing"/);
    },
  );
});

describe("pieces arriving at a downloader", () => {
  test("a request may say how many pieces are arriving at its downloader; p_arriving says it alone", () => {
    expect(parsePeerMessage({ t: "p_request", index: 3, missing: 120, arriving: 2 })).toEqual({
      t: "p_request",
      index: 3,
      missing: 120,
      arriving: 2,
    });
    expect(parsePeerMessage({ t: "p_request", index: 3, arriving: 0 })).toEqual({
      t: "p_request",
      index: 3,
      arriving: 0,
    });
    expect(parsePeerMessage({ t: "p_arriving", count: 5 })).toEqual({ t: "p_arriving", count: 5 });
  });

  test.each([-1, 1.5, MAX_PIECE_INDEX + 1, "7", null])(
    "an arriving figure of %p is a protocol error",
    (n) => {
      expect(() => parsePeerMessage({ t: "p_request", index: 3, arriving: n })).toThrow(/"arriving"/);
      expect(() => parsePeerMessage({ t: "p_arriving", count: n })).toThrow(ProtocolError);
      expect(() => parsePeerMessage({ t: "p_arriving" })).toThrow(/"count"/);
    },
  );
});

describe("pieces in parts", () => {
  test("a part names its piece and offset, and carries at most a whole piece", () => {
    const data = new Uint8Array(PIECE_PART_BYTES);
    expect(parsePeerMessage({ t: "p_part", index: 2, offset: 65536, data })).toEqual({
      t: "p_part",
      index: 2,
      offset: 65536,
      data,
    });
    const piece = new Uint8Array(512 * 1024);
    expect(parsePeerMessage({ t: "p_part", index: 2, offset: 0, data: piece })).toMatchObject({
      data: piece,
    });
    expect(parsePeerMessage({ t: "p_soon", index: 9 })).toEqual({ t: "p_soon", index: 9 });
  });

  test.each([
    ["longer than a piece", { index: 0, offset: 0, data: new Uint8Array(512 * 1024 + 1) }],
    ["empty", { index: 0, offset: 0, data: new Uint8Array(0) }],
    ["past a piece", { index: 0, offset: 512 * 1024, data: new Uint8Array(1) }],
    ["negative offset", { index: 0, offset: -1, data: new Uint8Array(1) }],
    ["no offset", { index: 0, data: new Uint8Array(1) }],
    ["index out of range", { index: MAX_PIECE_INDEX, offset: 0, data: new Uint8Array(1) }],
  ])("a part %s is a protocol error", (_, fields) => {
    expect(() => parsePeerMessage({ t: "p_part", ...fields })).toThrow(ProtocolError);
  });
});
