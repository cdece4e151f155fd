// spec/unit/wire/outbox.spec.ts: partial writes queue in order, flush drains in order, the cap ends the socket.
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { MAX_QUEUED_BYTES } from "../../../lib/wire/limits.ts";
import { Outbox, type Writable } from "../../../lib/wire/outbox.ts";

const FC_RUNS = Number(process.env.FC_RUNS ?? 1000);

/** A socket that accepts `accept` bytes per write call (-1: closing), recording what it took. */
class FakeSocket implements Writable {
  accept: number;
  calls = 0;
  ends = 0;
  #taken: number[] = [];

  constructor(accept: number) {
    this.accept = accept;
  }

  write(data: Uint8Array): number {
    this.calls++;
    if (this.accept < 0) return -1;
    const n = Math.min(this.accept, data.byteLength);
    this.#taken.push(...data.subarray(0, n));
    return n;
  }

  end(): void {
    this.ends++;
  }

  get taken(): number[] {
    return this.#taken;
  }
}

const bytes = (from: number, count: number) =>
  Uint8Array.from({ length: count }, (_, i) => (from + i) & 0xff);

/** Flushes until the queue empties, at most `limit` drain events; returns how many it took. */
function drainAll(outbox: Outbox, limit = 1000): number {
  for (let i = 1; i <= limit; i++) if (outbox.flush()) return i;
  throw new Error("outbox did not drain");
}

describe("Outbox", () => {
  test("writes a frame straight through when the socket takes it all", () => {
    const socket = new FakeSocket(Infinity);
    const outbox = new Outbox(socket);
    expect(outbox.send(bytes(0, 10))).toBe(true);
    expect(outbox.queuedBytes).toBe(0);
    expect(socket.taken).toEqual([...bytes(0, 10)]);
  });

  test("defaults maxQueuedBytes to MAX_QUEUED_BYTES", () => {
    expect(new Outbox(new FakeSocket(0)).maxQueuedBytes).toBe(MAX_QUEUED_BYTES);
  });

  test("queues the remainder of a partial write and returns false", () => {
    const socket = new FakeSocket(4);
    const outbox = new Outbox(socket);
    expect(outbox.send(bytes(0, 10))).toBe(false);
    expect(socket.taken).toEqual([0, 1, 2, 3]);
    expect(outbox.queuedBytes).toBe(6);
  });

  test("queues later frames behind the remainder without writing them out of order", () => {
    const socket = new FakeSocket(4);
    const outbox = new Outbox(socket);
    outbox.send(bytes(0, 10));
    expect(outbox.send(bytes(10, 5))).toBe(false);
    expect(outbox.send(bytes(15, 3))).toBe(false);
    expect(socket.calls).toBe(1); // nothing jumps the queue
    expect(outbox.queuedBytes).toBe(6 + 5 + 3);
  });

  test("flush drains the queue in order, one partial write per drain, with exact queuedBytes", () => {
    const socket = new FakeSocket(4);
    const outbox = new Outbox(socket);
    outbox.send(bytes(0, 10));
    outbox.send(bytes(10, 5));
    outbox.send(bytes(15, 3));
    const seen: number[] = [];
    while (!outbox.flush()) seen.push(outbox.queuedBytes);
    seen.push(outbox.queuedBytes);
    // drain 1: 4 of the 6 left; drain 2: the last 2, then 4 of 5; drain 3: the last 1, then all 3
    expect(seen).toEqual([10, 4, 0]);
    expect(socket.taken).toEqual([...bytes(0, 18)]);
  });

  test("flush stops at the first partial write and resumes from the right byte", () => {
    const socket = new FakeSocket(0);
    const outbox = new Outbox(socket);
    outbox.send(bytes(0, 7));
    outbox.send(bytes(7, 7));
    expect(outbox.queuedBytes).toBe(14);
    socket.accept = 3;
    expect(outbox.flush()).toBe(false);
    expect(outbox.queuedBytes).toBe(11);
    expect(outbox.flush()).toBe(false);
    expect(outbox.queuedBytes).toBe(8);
    socket.accept = Infinity;
    expect(outbox.flush()).toBe(true);
    expect(outbox.queuedBytes).toBe(0);
    expect(socket.taken).toEqual([...bytes(0, 14)]);
  });

  test("sends straight through again once drained", () => {
    const socket = new FakeSocket(0);
    const outbox = new Outbox(socket);
    outbox.send(bytes(0, 3));
    socket.accept = Infinity;
    drainAll(outbox);
    expect(outbox.send(bytes(3, 3))).toBe(true);
    expect(outbox.queuedBytes).toBe(0);
    expect(socket.taken).toEqual([...bytes(0, 6)]);
  });

  test("flush on an empty queue returns true without writing", () => {
    const socket = new FakeSocket(4);
    const outbox = new Outbox(socket);
    expect(outbox.flush()).toBe(true);
    expect(socket.calls).toBe(0);
  });

  test("a write returning 0 queues the whole frame", () => {
    const socket = new FakeSocket(0);
    const outbox = new Outbox(socket);
    expect(outbox.send(bytes(0, 9))).toBe(false);
    expect(outbox.queuedBytes).toBe(9);
    expect(outbox.flush()).toBe(false);
    expect(outbox.queuedBytes).toBe(9);
  });

  test("a write returning -1 (closing) queues nothing and returns false", () => {
    const socket = new FakeSocket(-1);
    const outbox = new Outbox(socket);
    expect(outbox.send(bytes(0, 9))).toBe(false);
    expect(outbox.queuedBytes).toBe(0);
    expect(socket.ends).toBe(0);
  });

  test("flush leaves the queue unchanged when the socket starts closing", () => {
    const socket = new FakeSocket(2);
    const outbox = new Outbox(socket);
    outbox.send(bytes(0, 8));
    socket.accept = -1;
    expect(outbox.flush()).toBe(false);
    expect(outbox.queuedBytes).toBe(6);
  });

  test("queuing exactly maxQueuedBytes keeps the socket open; one byte more ends it", () => {
    const socket = new FakeSocket(0);
    const outbox = new Outbox(socket, { maxQueuedBytes: 10 });
    outbox.send(bytes(0, 6));
    outbox.send(bytes(6, 4));
    expect(outbox.queuedBytes).toBe(10);
    expect(socket.ends).toBe(0);
    outbox.send(bytes(10, 1));
    expect(outbox.queuedBytes).toBe(11);
    expect(socket.ends).toBe(1);
  });

  test("counts only the unwritten remainder against maxQueuedBytes", () => {
    const socket = new FakeSocket(5);
    const outbox = new Outbox(socket, { maxQueuedBytes: 10 });
    outbox.send(bytes(0, 15)); // 5 written, 10 queued: at the cap, not over it
    expect(outbox.queuedBytes).toBe(10);
    expect(socket.ends).toBe(0);
  });

  test("a single frame larger than maxQueuedBytes ends a socket that accepts none of it", () => {
    const socket = new FakeSocket(0);
    const outbox = new Outbox(socket, { maxQueuedBytes: 10 });
    expect(outbox.send(bytes(0, 11))).toBe(false);
    expect(socket.ends).toBe(1);
  });

  test("for any write sizes, bytes reach the socket in send order and queuedBytes is exact", () => {
    const step = fc.oneof(
      fc.record({
        kind: fc.constant("send" as const),
        size: fc.integer({ min: 0, max: 40 }),
        accept: fc.integer({ min: 0, max: 50 }),
      }),
      fc.record({ kind: fc.constant("flush" as const), accept: fc.integer({ min: 0, max: 50 }) }),
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 40 }), (steps) => {
        const socket = new FakeSocket(0);
        const outbox = new Outbox(socket, { maxQueuedBytes: Number.MAX_SAFE_INTEGER });
        let sent = 0;
        for (const s of steps) {
          socket.accept = s.accept;
          if (s.kind === "send") {
            const empty = outbox.send(bytes(sent, s.size));
            sent += s.size;
            expect(empty).toBe(outbox.queuedBytes === 0);
          } else {
            expect(outbox.flush()).toBe(outbox.queuedBytes === 0);
          }
          expect(outbox.queuedBytes).toBe(sent - socket.taken.length);
        }
        socket.accept = 7;
        drainAll(outbox);
        expect(socket.taken).toEqual([...bytes(0, sent)]);
        expect(socket.ends).toBe(0);
      }),
      { numRuns: FC_RUNS },
    );
  }, 30_000);
});
