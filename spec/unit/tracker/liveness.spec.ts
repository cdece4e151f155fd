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

  test("names the sessions unheard for the expiry time, here or anywhere, counting from its start for the unheard", () => {
    const l = new Liveness();
    const sessions = new Map([
      ["here", {}],
      ["there", {}],
      ["never", {}],
      ["recent", {}],
    ]);
    l.touch("here", 1_000);
    l.reported([["there", 500]], 2_000); // heard by another tracker at 1,500
    l.touch("recent", 9_000);
    l.touch("gone", 0); // not in the state any more: forgotten, never named
    const at = (nowMs: number, max = 10) => l.silent(sessions, { nowMs, afterMs: 10_000, sinceMs: 100, max });
    expect(at(10_099)).toEqual([]);
    expect(at(10_100)).toEqual(["never"]); // unheard since the tracker started at 100
    expect(at(11_000)).toEqual(["here", "never"]);
    expect(at(11_500)).toEqual(["here", "there", "never"]);
    expect(at(11_500, 2)).toEqual(["here", "there"]);
    l.touch("here", 11_600); // heard again: no longer silent
    expect(at(18_999)).toEqual(["there", "never"]);
    expect(at(19_000)).toEqual(["there", "never", "recent"]);
  });
});
