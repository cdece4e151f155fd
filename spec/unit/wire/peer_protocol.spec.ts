// spec/unit/wire/peer_protocol.spec.ts: the optional fields of peer messages are checked, not trusted.
import { describe, expect, test } from "bun:test";
import { ProtocolError } from "../../../lib/errors.ts";
import { MAX_PIECE_INDEX, parsePeerMessage } from "../../../lib/wire/peer_protocol.ts";

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
