// spec/unit/download/requests.spec.ts: RequestBook pipelining, timeouts, strikes and counters.
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { DEFAULT_STRIKES_TO_DROP, RequestBook } from "../../../lib/download/requests.ts";

const FC_RUNS = Number(process.env.FC_RUNS ?? 1000);

describe("RequestBook", () => {
  test("limits outstanding requests per peer to maxRequestsPerPeer", () => {
    const book = new RequestBook({ maxRequestsPerPeer: 2 });
    expect(book.freeSlots("a")).toBe(2);
    book.add("a", 0, 0);
    book.add("a", 1, 0);
    expect(book.freeSlots("a")).toBe(0);
    expect(() => book.add("a", 2, 0)).toThrow();
    book.add("b", 2, 0); // another peer has its own pipeline
    expect(book.outstanding("a")).toBe(2);
    expect(book.totalOutstanding()).toBe(3);
  });

  test("rejects asking the same peer for the same piece twice", () => {
    const book = new RequestBook({ maxRequestsPerPeer: 4 });
    book.add("a", 7, 0);
    expect(() => book.add("a", 7, 1)).toThrow();
    book.add("b", 7, 1); // endgame: another peer may be asked too
    expect(book.has("a", 7) && book.has("b", 7)).toBe(true);
  });

  test("remove frees a slot and reports whether the request was outstanding", () => {
    const book = new RequestBook({ maxRequestsPerPeer: 1 });
    book.add("a", 3, 0);
    expect(book.remove("a", 3)).toBe(true);
    expect(book.remove("a", 3)).toBe(false);
    expect(book.freeSlots("a")).toBe(1);
    expect(book.has("a", 3)).toBe(false);
  });

  test("received counts only requested pieces and settles the request", () => {
    const book = new RequestBook({ maxRequestsPerPeer: 4 });
    book.add("a", 1, 0);
    book.add("b", 1, 0);
    expect(book.received("a", 1)).toBe(true);
    expect(book.received("a", 1)).toBe(false); // unsolicited now
    expect(book.received("b", 1, { duplicate: true })).toBe(true);
    expect(book.received("c", 9, { duplicate: true })).toBe(false);
    expect(book.counters()).toEqual({ piecesReceived: 2, duplicatesReceived: 1, badPieces: 0 });
    expect(book.totalOutstanding()).toBe(0);
  });

  test("removePeer forgets and returns every request to that peer", () => {
    const book = new RequestBook({ maxRequestsPerPeer: 4 });
    book.add("a", 5, 0);
    book.add("a", 2, 0);
    book.add("b", 5, 0);
    expect(book.removePeer("a")).toEqual([2, 5]);
    expect(book.removePeer("a")).toEqual([]);
    expect(book.outstanding("a")).toBe(0);
    expect(book.has("b", 5)).toBe(true);
  });

  test("timedOut lists requests at least timeoutMs old, oldest first, without removing them", () => {
    const book = new RequestBook({ maxRequestsPerPeer: 4 });
    book.add("a", 0, 1_000);
    book.add("b", 1, 500);
    book.add("a", 2, 1_600);
    expect(book.timedOut(1_999, 1_000)).toEqual([{ peerId: "b", pieceIndex: 1, requestedAtMs: 500 }]);
    expect(book.timedOut(2_000, 1_000)).toEqual([
      { peerId: "b", pieceIndex: 1, requestedAtMs: 500 },
      { peerId: "a", pieceIndex: 0, requestedAtMs: 1_000 },
    ]);
    expect(book.totalOutstanding()).toBe(3);
  });

  test("timedOut returns exactly the requests whose age reaches the timeout", () => {
    const requests = fc.uniqueArray(
      fc.record({ peer: fc.constantFrom("a", "b", "c"), piece: fc.nat(20), atMs: fc.nat(10_000) }),
      { selector: (r) => `${r.peer}/${r.piece}`, maxLength: 30 },
    );
    fc.assert(
      fc.property(requests, fc.nat(20_000), fc.nat(10_000), (reqs, nowMs, timeoutMs) => {
        const book = new RequestBook({ maxRequestsPerPeer: 30 });
        for (const r of reqs) book.add(r.peer, r.piece, r.atMs);
        const late = book.timedOut(nowMs, timeoutMs);
        const expected = reqs.filter((r) => nowMs - r.atMs >= timeoutMs);
        expect(late.length).toBe(expected.length);
        for (const r of expected) {
          expect(late).toContainEqual({ peerId: r.peer, pieceIndex: r.piece, requestedAtMs: r.atMs });
        }
        for (const [i, r] of late.slice(1).entries())
          expect(r.requestedAtMs).toBeGreaterThanOrEqual(late[i]!.requestedAtMs);
      }),
      { numRuns: FC_RUNS },
    );
  });

  test("strike says to drop a peer at the third bad piece by default", () => {
    const book = new RequestBook({ maxRequestsPerPeer: 1 });
    expect(DEFAULT_STRIKES_TO_DROP).toBe(3);
    expect(book.strike("a")).toBe(false);
    expect(book.strike("b")).toBe(false);
    expect(book.strike("a")).toBe(false);
    expect(book.strike("a")).toBe(true);
    expect(book.strikes("a")).toBe(3);
    expect(book.strikes("b")).toBe(1);
    expect(book.counters().badPieces).toBe(4);
  });

  test("strike honours a custom threshold and survives removePeer", () => {
    const book = new RequestBook({ maxRequestsPerPeer: 1, strikesToDrop: 2 });
    expect(book.strike("a")).toBe(false);
    book.removePeer("a");
    expect(book.strike("a")).toBe(true);
  });

  test("rejects a non-positive pipelining limit or strike threshold", () => {
    expect(() => new RequestBook({ maxRequestsPerPeer: 0 })).toThrow(RangeError);
    expect(() => new RequestBook({ maxRequestsPerPeer: 1.5 })).toThrow(RangeError);
    expect(() => new RequestBook({ maxRequestsPerPeer: 1, strikesToDrop: 0 })).toThrow(RangeError);
  });

  test("counters returns a snapshot the caller cannot change", () => {
    const book = new RequestBook({ maxRequestsPerPeer: 1 });
    book.counters().badPieces = 99;
    expect(book.counters().badPieces).toBe(0);
  });
});
