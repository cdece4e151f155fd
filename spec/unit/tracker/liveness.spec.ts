import { describe, expect, test } from "bun:test";
import { LIVE_WINDOW_MS, Liveness } from "../../../lib/tracker/liveness.ts";

describe("Liveness", () => {
  test("keeps a session live for the window after its last heartbeat here", () => {
    const l = new Liveness();
    l.touch("s1", 1_000);
    expect(l.isLive("s1", 1_000 + LIVE_WINDOW_MS)).toBe(true);
    expect(l.isLive("s1", 1_001 + LIVE_WINDOW_MS)).toBe(false);
  });

  test("dates a reported session by how long ago the other tracker heard it", () => {
    const l = new Liveness();
    l.reported([["s1", 4_000]], 10_000); // heard at 6_000 by the other tracker
    expect(l.isLive("s1", 6_000 + LIVE_WINDOW_MS)).toBe(true);
    expect(l.isLive("s1", 6_001 + LIVE_WINDOW_MS)).toBe(false);
  });

  test("gossips only what it heard itself, with its age, so liveness is never extended by relaying", () => {
    const l = new Liveness();
    l.touch("mine", 1_000);
    l.reported([["theirs", 0]], 1_000);
    expect(l.heardHere(1_500)).toEqual([["mine", 500]]);
  });

  test("forgets a session at logout", () => {
    const l = new Liveness();
    l.touch("s1", 0);
    l.reported(["s1"], 0);
    l.forget("s1");
    expect(l.isLive("s1", 1)).toBe(false);
    expect(l.liveCount(1)).toBe(0);
  });
});
