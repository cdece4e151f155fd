// spec/unit/peer/serve_queue.spec.ts: the seeder's choice of the next request: among the
// downloaders receiving the fewest pieces (or one more), the least-sent piece first
// (super-seeding), then the downloader with the most pieces missing, then the connection served
// longest ago, then the oldest request.
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { ServeQueue } from "../../../lib/peer/serve_queue.ts";

const FC_RUNS = Number(process.env.FC_RUNS ?? 300);
const all = () => true;

describe("ServeQueue", () => {
  test("a piece nobody got from us yet goes before one already sent", () => {
    const q = new ServeQueue<string>({ maxQueuedPerConnection: 8 });
    q.open("a", "f");
    q.open("b", "f");
    q.request("a", 1);
    expect(q.next(all)).toEqual({ conn: "a", index: 1 });
    q.request("a", 1); // asked again later (say after a bad copy)
    q.request("b", 1);
    q.request("b", 2);
    expect(q.next(all)).toEqual({ conn: "b", index: 2 }); // 2 was never sent
    expect(q.timesSent("f", 1)).toBe(1);
  });

  test("among pieces sent as often, the downloader missing the most pieces goes first", () => {
    const q = new ServeQueue<string>({ maxQueuedPerConnection: 8 });
    for (const c of ["ahead", "behind", "silent"]) q.open(c, "f");
    q.request("silent", 0); // says nothing of its progress: served as if it lacked nothing
    q.request("ahead", 1, 10);
    q.request("behind", 2, 90);
    q.request("behind", 3, 90);
    expect(q.next(all)).toEqual({ conn: "behind", index: 2 });
    expect(q.next(all)).toEqual({ conn: "behind", index: 3 }); // still the furthest behind
    q.request("behind", 4, 5); // caught up meanwhile: its latest request says so
    expect(q.next(all)).toEqual({ conn: "ahead", index: 1 });
    expect(q.next(all)).toEqual({ conn: "behind", index: 4 });
    expect(q.next(all)).toEqual({ conn: "silent", index: 0 });
    // A piece never sent still beats one sent before, whoever is further behind.
    q.request("behind", 1, 99);
    q.request("ahead", 7, 1);
    expect(q.next(all)).toEqual({ conn: "ahead", index: 7 });
  });

  test("a downloader receiving fewer pieces goes first; within one more, the orders below decide", () => {
    const q = new ServeQueue<string>({ maxQueuedPerConnection: 8 });
    for (const c of ["busy", "idle", "silent"]) q.open(c, "f");
    q.request("busy", 1, 90, 4); // furthest behind, but four pieces are arriving at it already
    q.request("idle", 2, 10, 0);
    expect(q.next(all)).toEqual({ conn: "idle", index: 2 });
    q.request("idle", 3, 10, 3); // receiving more now than busy, which said 4: within one
    expect(q.next(all)).toEqual({ conn: "busy", index: 1 }); // furthest behind again decides
    // Told between requests; a request that does not say keeps the last figure.
    q.request("busy", 4, 90);
    q.arriving("idle", 0);
    q.request("silent", 4); // says nothing: as if nothing arrived at it
    expect(q.next(all)).toEqual({ conn: "idle", index: 3 }); // 0 and 0; busy's 4 waits
    expect(q.next(all)).toEqual({ conn: "silent", index: 4 });
    expect(q.next(all)).toEqual({ conn: "busy", index: 4 }); // alone now: served, whatever it said
    // A connection that cannot take a piece does not hold the others to its figure.
    q.request("idle", 5, 10, 0);
    q.request("busy", 6, 90, 4);
    expect(q.next((c) => c !== "idle")).toEqual({ conn: "busy", index: 6 });
    q.arriving("gone", 0); // a connection closed meanwhile: nothing to record
    expect(q.next(all)).toEqual({ conn: "idle", index: 5 });
  });

  test("ties go to the connection served longest ago, then to the oldest request", () => {
    const q = new ServeQueue<string>({ maxQueuedPerConnection: 8 });
    for (const c of ["a", "b"]) q.open(c, "f");
    q.request("a", 0);
    q.request("a", 1);
    q.request("b", 2);
    q.request("b", 3);
    const order = [q.next(all), q.next(all), q.next(all), q.next(all)].map((n) => `${n?.conn}${n?.index}`);
    expect(order).toEqual(["a0", "b2", "a1", "b3"]);
    expect(q.next(all)).toBeUndefined();
  });

  test("skips connections that cannot take a piece now, counts files apart, honours cancel and the cap", () => {
    const q = new ServeQueue<string>({ maxQueuedPerConnection: 2 });
    q.open("a", "f");
    q.open("b", "g");
    expect([q.request("a", 0), q.request("a", 1)]).toEqual(["queued", "queued"]);
    expect(q.request("a", 2)).toBe("over_limit");
    expect(q.cancel("a", 0)).toBe(true);
    expect(q.cancel("a", 0)).toBe(false);
    q.request("b", 1);
    expect(q.next((c) => c !== "a")).toEqual({ conn: "b", index: 1 });
    expect(q.timesSent("f", 1)).toBe(0); // piece 1 of g, not of f
    expect(q.next((c) => c !== "a")).toBeUndefined();
    q.close("a");
    expect(q.request("a", 1)).toBe("over_limit");
    expect(q.next(all)).toBeUndefined();
  });

  test("answers a connection's second request busy beyond the total, then tells it to resume, longest waiting first", () => {
    const q = new ServeQueue<string>({ maxQueuedPerConnection: 8, maxQueuedTotal: 2 });
    for (const c of ["a", "b", "c", "d"]) q.open(c, "f");
    expect(q.request("a", 0)).toBe("queued");
    expect(q.request("a", 1)).toBe("queued");
    expect(q.request("a", 2)).toBe("busy");
    // Each connection keeps one place whatever the others queued: nobody can keep it out.
    expect(q.request("b", 2)).toBe("queued");
    expect(q.request("c", 3)).toBe("queued");
    expect(q.request("c", 4)).toBe("busy");
    expect(q.request("a", 5)).toBe("busy"); // still waiting: listed once
    expect(q.toResume()).toEqual([]); // 4 queued, room for 2
    for (let k = 0; k < 3; k++) q.next(all);
    expect(q.toResume()).toEqual(["a"]); // one free place: the one waiting longest
    expect(q.toResume()).toEqual([]); // a keeps it until it asks
    expect(q.request("a", 2)).toBe("queued"); // a's kept place
    expect(q.request("d", 6)).toBe("queued"); // a first request: queued over the total all the same
    q.close("c"); // a closed connection is never told anything
    for (let k = 0; k < 3; k++) q.next(all);
    expect(q.toResume()).toEqual([]);
    expect(q.queued("a") + q.queued("b") + q.queued("d")).toBe(0);
    expect(() => new ServeQueue<string>({ maxQueuedPerConnection: 8, maxQueuedTotal: 0 })).toThrow(
      /maxQueuedTotal/,
    );
  });

  test("a connection told to resume that never asks keeps no place once nothing is queued", () => {
    const r = new ServeQueue<string>({ maxQueuedPerConnection: 8, maxQueuedTotal: 1 });
    for (const c of ["a", "b", "c"]) r.open(c, "f");
    expect(r.request("a", 0)).toBe("queued");
    expect(r.request("a", 1)).toBe("busy");
    expect(r.request("c", 2)).toBe("queued");
    expect(r.request("c", 3)).toBe("busy");
    r.next(all);
    r.next(all);
    expect(r.toResume()).toEqual(["a"]);
    // a does not ask: once nothing is queued its place goes to c.
    expect(r.toResume()).toEqual(["c"]);
    expect(r.request("c", 3)).toBe("queued");
    // Nor once the queues have served more turns than they hold since it was told.
    const t = new ServeQueue<string>({ maxQueuedPerConnection: 8, maxQueuedTotal: 2 });
    for (const c of ["a", "b", "c", "d", "w"]) t.open(c, "f");
    t.request("a", 0);
    t.request("a", 1);
    expect(t.request("w", 2)).toBe("queued"); // a first request: over the total all the same
    expect(t.request("w", 3)).toBe("busy");
    t.next(all);
    t.next(all);
    expect(t.toResume()).toEqual(["w"]); // w does not ask again
    expect(t.request("b", 4)).toBe("queued");
    expect(t.request("b", 5)).toBe("busy"); // w's place is kept
    t.next(all);
    t.request("c", 6);
    t.next(all);
    expect(t.toResume()).toEqual([]); // two turns: still kept
    t.request("d", 7);
    t.next(all);
    expect(t.toResume()).toEqual(["b"]); // three turns: w's place goes to b, who waits
  });

  test("a connection that keeps asking after a busy answer is over the limit as if all were queued", () => {
    const q = new ServeQueue<string>({ maxQueuedPerConnection: 4, maxQueuedTotal: 1 });
    q.open("a", "f");
    expect(q.request("a", 0)).toBe("queued");
    expect([1, 2, 3].map((i) => q.request("a", i))).toEqual(["busy", "busy", "busy"]);
    expect(q.request("a", 4)).toBe("over_limit");
  });

  test("serves every queued request exactly once, and never a more-sent piece while a less-sent one waits", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 9 })), { maxLength: 60 }),
        (reqs) => {
          const q = new ServeQueue<number>({ maxQueuedPerConnection: 64 });
          for (let c = 0; c < 4; c++) q.open(c, "f");
          const want = new Map<string, number>();
          for (const [c, i] of reqs) {
            q.request(c, i);
            want.set(`${c}:${i}`, (want.get(`${c}:${i}`) ?? 0) + 1);
          }
          for (let n = q.next(all); n; n = q.next(all)) {
            const k = `${n.conn}:${n.index}`;
            expect(want.get(k)).toBeGreaterThan(0);
            want.set(k, (want.get(k) ?? 0) - 1);
            const sentBefore = q.timesSent("f", n.index) - 1;
            for (const [key, left] of want)
              if (left > 0)
                expect(q.timesSent("f", Number(key.split(":")[1]))).toBeGreaterThanOrEqual(sentBefore);
          }
          expect([...want.values()].every((v) => v === 0)).toBe(true);
        },
      ),
      { numRuns: FC_RUNS },
    );
  });
});
