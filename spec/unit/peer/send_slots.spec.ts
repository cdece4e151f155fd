// spec/unit/peer/send_slots.spec.ts: a piece holds its send slot until its downloader says it
// arrived (or too long has passed); a few connections at a time, two pieces each.
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { SendSlots } from "../../../lib/peer/send_slots.ts";

const FC_RUNS = Number(process.env.FC_RUNS ?? 200);

describe("SendSlots", () => {
  test("at most `connections` connections have a piece on the wire; each may queue a second behind its first", () => {
    const s = new SendSlots<string>({ connections: 2, perConnection: 2, expireMs: 1_000 });
    s.sent("a", 0, 0);
    s.sent("b", 1, 7);
    expect(s.canSend("c")).toBe(false); // two connections busy already
    expect(s.canSend("a")).toBe(true); // a second piece on a adds no sharing of the uplink
    s.sent("a", 2, 0);
    expect(s.canSend("a")).toBe(false);
    expect(s.delivered("b", 1)).toBe(7); // when it went out: how long it took to arrive follows
    expect(s.canSend("c")).toBe(true); // b's slot is free
    expect(s.delivered("b", 1)).toBeUndefined(); // a second got for it changes nothing
    expect(s.delivered("c", 9)).toBeUndefined(); // nor one for a piece never sent
    expect([s.active, s.onWire("a")]).toEqual([1, 2]);
  });

  test("a slot holder keeps its slot while nobody waits, and lets it go after its turn when others do", () => {
    const s = new SendSlots<string>({ connections: 1, perConnection: 2, expireMs: 1_000 });
    // Alone: a connection that keeps asking keeps sending, one piece right behind the other.
    s.sent("a", 0, 0);
    s.sent("a", 1, 0);
    s.delivered("a", 0);
    expect(s.canSend("a", false)).toBe(true);
    s.sent("a", 2, 0);
    s.delivered("a", 1);
    // b waits for a slot: a's turn (two pieces) is over, its third goes out only if nobody waits.
    expect(s.canSend("b", true)).toBe(false);
    expect(s.canSend("a", true)).toBe(false);
    s.delivered("a", 2);
    expect(s.canSend("b", true)).toBe(true); // a's slot is free: b takes it
    s.sent("b", 0, 0);
    expect(s.canSend("b", true)).toBe(true); // b's second, within its turn
    expect(s.canSend("a", true)).toBe(false);
  });

  test("a piece never acknowledged frees its slot after expireMs; closing frees them all", () => {
    const s = new SendSlots<string>({ connections: 1, perConnection: 2, expireMs: 1_000 });
    s.sent("a", 0, 0);
    s.sent("a", 1, 600);
    expect(s.expire(999)).toBe(false);
    expect(s.expire(1_000)).toBe(true);
    expect(s.onWire("a")).toBe(1);
    expect(s.canSend("b")).toBe(false);
    s.close("a");
    expect(s.canSend("b")).toBe(true);
    expect(() => new SendSlots({ connections: 0 })).toThrow(/connections/);
  });

  test("whatever is sent, acknowledged, expired and closed, the limits hold and the counts add up", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            op: fc.constantFrom("send", "got", "expire", "close"),
            conn: fc.integer({ min: 0, max: 4 }),
            index: fc.integer({ min: 0, max: 5 }),
            dt: fc.integer({ min: 0, max: 400 }),
          }),
          { maxLength: 80 },
        ),
        (ops) => {
          const s = new SendSlots<number>({ connections: 3, perConnection: 2, expireMs: 1_000 });
          const model = new Map<number, { index: number; at: number }[]>();
          let now = 0;
          for (const { op, conn, index, dt } of ops) {
            now += dt;
            if (op === "send" && s.canSend(conn)) {
              s.sent(conn, index, now);
              model.set(conn, [...(model.get(conn) ?? []), { index, at: now }]);
            } else if (op === "got") {
              const out = model.get(conn) ?? [];
              const at = out.findIndex((p) => p.index === index);
              expect(s.delivered(conn, index)).toBe(at >= 0 ? out[at]?.at : undefined);
              if (at >= 0) out.splice(at, 1);
            } else if (op === "expire") {
              s.expire(now);
              for (const [c, out] of model)
                model.set(
                  c,
                  out.filter((p) => now - p.at < 1_000),
                );
            } else if (op === "close") {
              s.close(conn);
              model.delete(conn);
            }
            for (const [c, out] of model) if (out.length === 0) model.delete(c);
            expect(s.active).toBe(model.size);
            expect(s.active).toBeLessThanOrEqual(3);
            for (let c = 0; c <= 4; c++) {
              expect(s.onWire(c)).toBe(model.get(c)?.length ?? 0);
              expect(s.onWire(c)).toBeLessThanOrEqual(2);
            }
          }
        },
      ),
      { numRuns: FC_RUNS },
    );
  });
});
