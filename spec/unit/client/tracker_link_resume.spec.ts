// spec/unit/client/tracker_link_resume.spec.ts: the client's TrackerLink resuming its session on
// an in-process tracker. A tracker catching up with the others (wiped and restarted, or a moment
// behind) may not hold the session yet: the session is kept, however long that takes, and resumed
// once it does. Only a tracker that lacks nothing and knows the session not loses it.
import { afterEach, describe, expect, test } from "bun:test";
import { TrackerLink } from "../../../lib/client/tracker_link.ts";
import { TrackerTrust } from "../../../lib/identity/tracker_trust.ts";
import { encodeMessage } from "../../../lib/wire/codec.ts";
import { fakeTracker, stopFakeTrackers } from "../../helpers/fake_tracker.ts";
import { TEST_IDENTITY } from "../../helpers/identity.ts";
import { makeTempDir, stopAll } from "../../helpers/processes.ts";

const links: TrackerLink[] = [];

afterEach(async () => {
  for (const link of links.splice(0)) link.close();
  stopFakeTrackers();
  await stopAll();
});

type Answer = { ok: true; data: Record<string, unknown> } | { ok: false; reason: string };

const CATCHING_UP: Answer = {
  ok: false,
  reason: "tracker 1 is catching up with the others: try again in a moment",
};
const NOT_LOGGED_IN: Answer = { ok: false, reason: "not logged in: run login <user_id> <passwd>" };
const RESUME_GRACE_MS = 300;

/** A tracker that answers every request with `answer(type)`; `seen` collects the types asked. */
function answering(answer: (type: string) => Answer, seen: string[]): number {
  return fakeTracker((conn, request, id) => {
    const type = String(request.t);
    seen.push(type);
    conn.sendFrame(encodeMessage({ t: "reply", id, ...answer(type) }));
  });
}

/** A link to `port` holding alice's session, and the reasons it was told the session is lost. */
async function sessionOn(
  port: number,
  requestTimeoutMs: number,
): Promise<{ link: TrackerLink; lost: string[] }> {
  const link = new TrackerLink([{ no: 1, line: 1, host: "127.0.0.1", port }], () => {}, {
    identity: TEST_IDENTITY,
    trust: new TrackerTrust(await makeTempDir()),
    resumeGraceMs: RESUME_GRACE_MS,
    requestTimeoutMs,
    heartbeatMs: 60_000,
  });
  links.push(link);
  const lost: string[] = [];
  link.onSessionLost = (reason) => lost.push(reason);
  link.setSession(crypto.getRandomValues(new Uint8Array(32)), {
    user: "alice",
    pass: "pw",
    peer: "127.0.0.1:9",
  });
  return { link, lost };
}

const WHOAMI: Answer = { ok: true, data: { user: "alice" } };

describe("TrackerLink resuming a session", () => {
  test("on a tracker catching up for longer than the resume grace: kept, and resumed once it caught up", async () => {
    const caughtUpAt = Date.now() + 4 * RESUME_GRACE_MS;
    const seen: string[] = [];
    const port = answering((type) => {
      if (type === "resume" || type === "login")
        return Date.now() < caughtUpAt
          ? CATCHING_UP
          : { ok: true, data: { user: "alice", peer: "127.0.0.1:9" } };
      return WHOAMI;
    }, seen);
    const { link, lost } = await sessionOn(port, 10_000);
    const { reply } = await link.request({ t: "whoami" });
    expect(Date.now()).toBeGreaterThanOrEqual(caughtUpAt);
    expect(reply).toMatchObject(WHOAMI);
    expect(lost).toEqual([]);
    expect(seen.at(-2)).toBe("resume"); // the session came back as it was, then the request
  }, 15_000);

  test("on a tracker behind the others that has the user but not the session: carried on by logging in again at once", async () => {
    const seen: string[] = [];
    const port = answering((type) => {
      if (type === "resume") return CATCHING_UP;
      if (type === "login") return { ok: true, data: { user: "alice" } };
      return WHOAMI;
    }, seen);
    const { link, lost } = await sessionOn(port, 10_000);
    const started = Date.now();
    expect((await link.request({ t: "whoami" })).reply).toMatchObject(WHOAMI);
    expect(Date.now() - started).toBeLessThan(RESUME_GRACE_MS);
    expect(seen).toEqual(["resume", "login", "whoami"]);
    expect(lost).toEqual([]);
  }, 10_000);

  test("past the request's deadline while the tracker catches up: the request fails saying so, the session stays", async () => {
    const seen: string[] = [];
    const port = answering((type) => (type === "resume" || type === "login" ? CATCHING_UP : WHOAMI), seen);
    const { link, lost } = await sessionOn(port, 1_500);
    await expect(link.request({ t: "whoami" })).rejects.toThrow(
      /^tracker 1 is catching up with the others: try again in a moment$/,
    );
    expect(lost).toEqual([]);
    expect(seen).not.toContain("whoami");
  }, 10_000);

  test("on a tracker that lacks nothing and knows it not, and refuses the login again: lost after the grace", async () => {
    const seen: string[] = [];
    const port = answering((type) => {
      if (type === "resume") return { ok: false, reason: "session unknown to this tracker: log in again" };
      if (type === "login") return { ok: false, reason: "wrong user id or password" };
      return WHOAMI;
    }, seen);
    const { link, lost } = await sessionOn(port, 10_000);
    const started = Date.now();
    await link.request({ t: "whoami" });
    expect(Date.now() - started).toBeGreaterThanOrEqual(RESUME_GRACE_MS);
    expect(lost).toEqual(["session unknown to this tracker: log in again"]);
    expect(seen.filter((t) => t === "login")).toHaveLength(1); // asked once, not at every retry
  }, 10_000);

  test("a session that ended under a live connection is carried on with its token, and the request answered", async () => {
    const seen: string[] = [];
    let loggedIn = true;
    const port = answering((type) => {
      if (type === "resume") return { ok: true, data: { user: "alice", peer: "127.0.0.1:9" } };
      if (type === "login") {
        loggedIn = true;
        return { ok: true, data: { user: "alice" } };
      }
      if (seen.filter((t) => t === "whoami").length === 1) loggedIn = false; // it ends before the first
      return loggedIn ? WHOAMI : NOT_LOGGED_IN;
    }, seen);
    const { link, lost } = await sessionOn(port, 10_000);
    expect((await link.request({ t: "whoami" })).reply).toMatchObject(WHOAMI);
    expect(seen).toEqual(["resume", "whoami", "login", "whoami"]);
    expect(lost).toEqual([]);
  }, 10_000);

  test("one the tracker will not take again is lost, said once; a logout it cannot place is not logged in again", async () => {
    const seen: string[] = [];
    const port = answering((type) => {
      if (type === "resume") return { ok: true, data: { user: "alice", peer: "127.0.0.1:9" } };
      if (type === "login") return { ok: false, reason: "wrong user id or password" };
      return NOT_LOGGED_IN;
    }, seen);
    const { link, lost } = await sessionOn(port, 10_000);
    expect((await link.request({ t: "whoami" })).reply).toMatchObject(NOT_LOGGED_IN);
    expect((await link.request({ t: "whoami" })).reply).toMatchObject(NOT_LOGGED_IN);
    expect(lost).toEqual(["wrong user id or password"]);
    expect(seen.filter((t) => t === "login")).toHaveLength(1);
    const other = await sessionOn(port, 10_000);
    expect((await other.link.request({ t: "logout" })).reply).toMatchObject(NOT_LOGGED_IN);
    expect(seen.filter((t) => t === "login")).toHaveLength(1);
    expect(other.lost).toEqual([]);
  }, 10_000);
});
