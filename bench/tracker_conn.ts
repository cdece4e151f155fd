// A bare client<->tracker connection for the load generator: our framing and messages
// (lib/wire), requests matched to replies by id, and none of the real client's failover.

import type { Socket } from "bun";
import { Connection, connectionHandlers } from "../lib/wire/connection.ts";
import type { Fields } from "../lib/wire/fields.ts";
import { connectTls, secureHandlers } from "../lib/wire/tls.ts";
import { parseTrackerMessage, type Reply, TRACKER_MESSAGE_BOUNDS } from "../lib/wire/tracker_protocol.ts";
import { freshIdentity } from "../spec/helpers/identity.ts";

type Body = { t: string } & Record<string, unknown>;

/**
 * A connection that sent nothing for this long sends a heartbeat, as the real client does
 * every 2 s: the tracker closes connections that stay silent for 30 s (IDLE_TIMEOUT_S), and a
 * lag observer may wait that long between two phases of the bench.
 */
const KEEPALIVE_MS = 5_000;
/**
 * P2P_PLAIN_LINKS=1: plain TCP, to measure a build from before every link was TLS (#11) with the
 * same load generator; a build of today refuses such connections.
 */
const PLAIN_LINKS = process.env.P2P_PLAIN_LINKS === "1";
/** One key for every simulated client of a run (the tracker accepts any client key). */
const BENCH_IDENTITY = await freshIdentity();

export class TrackerConn {
  #conn!: Connection;
  #nextId = 1;
  #pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  #parts = new Map<number, (items: Fields[]) => void>();
  #lastSentMs = performance.now();
  #keepalive = setInterval(() => {
    if (this.#conn && !this.#conn.isClosed && performance.now() - this.#lastSentMs >= KEEPALIVE_MS)
      void this.request({ t: "heartbeat" }).catch(() => {});
  }, KEEPALIVE_MS).unref();

  /** Connects to a tracker on `host:port`. */
  static async open(host: string, port: number): Promise<TrackerConn> {
    const tc = new TrackerConn();
    const handler = {
      message: (_conn: Connection, value: unknown) => {
        const msg = parseTrackerMessage(value);
        if (msg.t === "part") return tc.#parts.get(msg.id)?.(msg.items);
        const reply: Reply = msg;
        const waiter = tc.#pending.get(reply.id);
        tc.#pending.delete(reply.id);
        tc.#parts.delete(reply.id);
        waiter?.resolve(reply);
      },
      close: () => {
        clearInterval(tc.#keepalive);
        for (const waiter of tc.#pending.values())
          waiter.reject(new Error(`tracker ${host}:${port} closed the connection`));
        tc.#pending.clear();
      },
    };
    await new Promise<void>((resolve, reject) => {
      const opened = (socket: Socket<Connection>) => {
        // No idle timeout: a simulated client may sit between phases.
        // As ./client: a reply with many piece hashes comes in parts.
        tc.#conn = new Connection(socket, handler, undefined, {
          idleTimeoutS: 0,
          messageBounds: TRACKER_MESSAGE_BOUNDS,
        });
        resolve();
      };
      Bun.connect<Connection>({
        hostname: host,
        port,
        ...(PLAIN_LINKS
          ? { socket: connectionHandlers(opened) }
          : {
              tls: connectTls(BENCH_IDENTITY),
              socket: secureHandlers(opened, { failed: (reason) => reject(new Error(reason)) }),
            }),
      }).catch((err) => {
        clearInterval(tc.#keepalive);
        reject(err);
      });
    });
    return tc;
  }

  /** Sends one request and resolves with the tracker's reply (ok or not); a listing's parts go to `onPart`. */
  request(body: Body, onPart?: (items: Fields[]) => void): Promise<Reply> {
    const id = this.#nextId++;
    this.#lastSentMs = performance.now();
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      if (onPart) this.#parts.set(id, onPart);
      this.#conn.send({ ...body, id });
      if (this.#conn.isClosed) {
        this.#pending.delete(id);
        reject(new Error("connection closed"));
      }
    });
  }

  /** Like request(), but throws with the tracker's reason unless the reply is ok. */
  async ok(body: Body): Promise<Reply & { ok: true }> {
    const reply = await this.request(body);
    if (!reply.ok) throw new Error(`${body.t} failed: ${reply.reason}`);
    return reply;
  }

  close(): void {
    clearInterval(this.#keepalive);
    this.#conn.end();
  }
}
