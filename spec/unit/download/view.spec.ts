// spec/unit/download/view.spec.ts: what a download records for the web page.
import { describe, expect, test } from "bun:test";
import {
  DownloadRecorder,
  PIECE_MISSING,
  PIECE_RESUMED,
  RATE_SAMPLES,
  secondsLeft,
} from "../../../lib/download/view.ts";

describe("DownloadRecorder", () => {
  test("maps each piece to the peer that delivered it, resumed ones apart", () => {
    const r = new DownloadRecorder(4);
    r.resumed(0);
    r.peerState("a:1", "connected");
    r.peerState("b:2", "connected");
    r.verified(2, "b:2", 100);
    r.verified(1, "a:1", 100);
    const s = r.snapshot();
    expect(s.pieceSource).toEqual([PIECE_RESUMED, 0, 1, PIECE_MISSING]);
    expect(s.peers.map((p) => [p.peer, p.piecesDelivered, p.bytesDelivered])).toEqual([
      ["a:1", 1, 100],
      ["b:2", 1, 100],
    ]);
  });

  test("keeps the reason a peer was cooled down or dropped when its connection then closes", () => {
    const r = new DownloadRecorder(2);
    r.peerState("a:1", "connected");
    r.peerState("a:1", "cooling", "no answer to piece 3 in 15 s");
    r.peerState("a:1", "closed", "connection closed");
    r.peerState("b:2", "connected");
    r.failedCheck(1, "b:2");
    r.failedCheck(0, "b:2");
    r.peerState("b:2", "dropped", "dropped after 3 pieces that failed their SHA-1 check");
    r.peerState("b:2", "closed", "connection closed");
    r.peerState("c:3", "connected");
    r.peerState("c:3", "closed", "download complete");
    const s = r.snapshot();
    expect(s.peers.map((p) => [p.peer, p.state, p.reason, p.badPieces])).toEqual([
      ["a:1", "cooling", "no answer to piece 3 in 15 s", 0],
      ["b:2", "dropped", "dropped after 3 pieces that failed their SHA-1 check", 2],
      ["c:3", "closed", "download complete", 0],
    ]);
    expect(s.badPieceIndexes).toEqual([0, 1]);
  });

  test("turns each tick's delivered bytes into per-peer rates, and keeps the whole life's rates by halving their resolution", () => {
    const r = new DownloadRecorder(3);
    r.peerState("a:1", "connected");
    r.peerHolds("a:1", 2);
    r.peerGained("a:1");
    r.verified(0, "a:1", 1000);
    r.tick(2000, 0.5);
    expect(r.snapshot().peers[0]).toMatchObject({ bytesPerSecond: 2000, piecesHeld: 3 });
    r.tick(0, 1);
    expect(r.snapshot().peers[0]?.bytesPerSecond).toBe(0);
    // 2 ticks so far; 598 more fill RATE_SAMPLES: pairs are averaged, each sample spans 2 ticks.
    for (let i = 0; i < RATE_SAMPLES - 2; i++) r.tick(100, 1);
    let snap = r.snapshot();
    expect(snap.rateSampleTicks).toBe(2);
    expect(snap.rateHistory.length).toBe(RATE_SAMPLES / 2);
    expect(snap.rateHistory[0]).toBe(1000); // (2000 + 0) / 2: the start is kept, averaged
    expect(snap.rateHistory.at(-1)).toBe(100);
    r.tick(300, 1);
    expect(r.snapshot().rateHistory.length).toBe(RATE_SAMPLES / 2); // half a sample pending
    r.tick(500, 1);
    snap = r.snapshot();
    expect(snap.rateHistory.length).toBe(RATE_SAMPLES / 2 + 1);
    expect(snap.rateHistory.at(-1)).toBe(400);
  });
});

describe("secondsLeft", () => {
  test("rounds up at the current rate; unknown without a rate or when done", () => {
    expect(secondsLeft(750, 100)).toBe(8);
    expect(secondsLeft(750, 0)).toBeNull();
    expect(secondsLeft(0, 100)).toBeNull();
  });
});
