// Shell: the client's connection to the tracker cluster. Uses the first live tracker in file
// order; when it dies, moves to the next by itself, resumes the session, and resends what was
// in flight with the same request id, so a retried write is applied once.
import type { Socket } from "bun";
import type { TrackerAddress, TrackerInfo } from "../config.ts";
import { HEARTBEAT_MS } from "../tracker/liveness.ts";
import { Connection, connectionHandlers } from "../wire/connection.ts";
import type { Fields } from "../wire/fields.ts";
import { parseTrackerMessage, type Reply } from "../wire/tracker_protocol.ts";

/** How long one request may take, failovers included, before the user hears it failed. */
const REQUEST_TIMEOUT_MS = 20_000;
/** How long to wait for one tracker's reply before judging it dead. */
const REPLY_TIMEOUT_MS = 8_000;
/** Requests in flight at once; the tracker closes a connection with more than 64 outstanding. */
const MAX_IN_FLIGHT = 32;
/** A tracker started with nothing stored refuses changes until it caught up (at most 3 s alone). */
const CATCHING_UP = /^tracker \d+ is catching up with the others/;
const CATCH_UP_RETRY_MS = 250;
/** After a failover the login may still be on its way between trackers: retry resume this long. */
const RESUME_GRACE_MS = 3_000;

type Body = { t: string } & Record<string, unknown>;

/** What a client shows a tracker to carry on the session it logged in with elsewhere. */
export interface SessionProof {
  user: string;
  pass: string;
  peer: string;
}

/** Takes the entries of one part of a listing, as they arrive. */
export type OnPart = (items: Fields[]) => void;

/** Settles one request: with its reply, or undefined when the tracker is gone. */
type Finish = (reply: Reply | undefined) => void;

/** Where a request went: the reply and the tracker that answered it. */
export interface Answer {
  reply: Reply;
  tracker: number;
}

export class TrackerLink {
  readonly trackers: TrackerInfo;
  #log: (line: string) => void;
  #conn?: Connection;
  #current?: TrackerAddress;
  #connecting?: Promise<Connection>;
  #nextId = 1;
  #pending = new Map<number, Finish>();
  #parts = new Map<number, OnPart>();
  #token: Uint8Array | undefined;
  #proof: SessionProof | undefined;
  #clientId = Buffer.from(crypto.getRandomValues(new Uint8Array(8))).toString("hex");
  #ridCounter = 0;
  #heartbeat?: ReturnType<typeof setInterval>;
  #inFlight = 0;
  #waitingForSlot: (() => void)[] = [];
  #closed = false;
  /** Called when the session is gone for good (no tracker knows it any more). */
  onSessionLost?: (reason: string) => void;

  constructor(trackers: TrackerInfo, log: (line: string) => void) {
    this.trackers = trackers;
    this.#log = log;
  }

  /** The tracker in use, if connected. */
  get tracker(): TrackerAddress | undefined {
    return this.#conn && !this.#conn.isClosed ? this.#current : undefined;
  }

  /** A fresh request id: the same id is resent on retries. */
  newRid(): string {
    return `${this.#clientId}-${++this.#ridCounter}`;
  }

  /**
   * Remembers the session token so a failover can resume it, and what proves the session (the
   * login's user and password, in memory only) so a tracker that never heard of the login (the
   * one that acknowledged it died or was cut off first) can be given it again; starts heartbeats.
   */
  setSession(token: Uint8Array | undefined, proof?: SessionProof): void {
    this.#token = token;
    this.#proof = token ? proof : undefined;
    clearInterval(this.#heartbeat);
    if (token) {
      this.#heartbeat = setInterval(() => {
        void this.request({ t: "heartbeat" }).catch(() => {});
      }, HEARTBEAT_MS);
    }
  }

  /**
   * Sends a request, failing over between trackers, until a reply or REQUEST_TIMEOUT_MS. A
   * listing's entries go to `options.onPart` as they arrive; resent after a failover, it asks
   * only for the entries not yet received.
   */
  async request(body: Body, options: { onPart?: OnPart } = {}): Promise<Answer> {
    if (this.#inFlight >= MAX_IN_FLIGHT)
      await new Promise<void>((resolve) => this.#waitingForSlot.push(resolve));
    this.#inFlight++;
    try {
      return await this.#request(body, options.onPart);
    } finally {
      this.#inFlight--;
      this.#waitingForSlot.shift()?.();
    }
  }

  async #request(body: Body, onPart?: OnPart): Promise<Answer> {
    let received = 0;
    const counted: OnPart | undefined =
      onPart &&
      ((items) => {
        received += items.length;
        onPart(items);
      });
    const deadline = Date.now() + REQUEST_TIMEOUT_MS;
    let lastError = "no tracker reachable";
    while (!this.#closed && Date.now() < deadline) {
      let conn: Connection;
      try {
        conn = await this.#connection(deadline);
      } catch (err) {
        lastError = (err as Error).message;
        break;
      }
      const reply = await this.#send(conn, received > 0 ? { ...body, skip: received } : body, counted);
      if (reply && !reply.ok && CATCHING_UP.test(reply.reason)) {
        await Bun.sleep(CATCH_UP_RETRY_MS); // a tracker that just started empty: it takes changes in a moment
        continue;
      }
      if (reply) return { reply, tracker: this.#current!.no };
      lastError = `tracker ${this.#current?.no} stopped answering`;
      conn.end();
    }
    throw new Error(`${lastError}: check that a tracker in tracker_info.txt is running`);
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#heartbeat);
    this.#conn?.end();
  }

  #send(conn: Connection, body: Body, onPart?: OnPart): Promise<Reply | undefined> {
    const id = this.#nextId++;
    const waiters = conn.state.waiters as Set<Finish>;
    return new Promise((resolve) => {
      const finish: Finish = (reply) => {
        clearTimeout(timer);
        this.#pending.delete(id);
        this.#parts.delete(id);
        waiters.delete(finish);
        resolve(reply);
      };
      let timer = setTimeout(() => finish(undefined), REPLY_TIMEOUT_MS);
      this.#pending.set(id, finish);
      if (onPart) {
        // A listing's parts show the tracker is alive: each one restarts the reply timer.
        this.#parts.set(id, (items) => {
          clearTimeout(timer);
          timer = setTimeout(() => finish(undefined), REPLY_TIMEOUT_MS);
          onPart(items);
        });
      }
      waiters.add(finish);
      conn.send({ ...body, id });
      if (conn.isClosed) finish(undefined);
    });
  }

  /** The live connection, or a new one to the first tracker that accepts, resuming the session. */
  #connection(deadline: number): Promise<Connection> {
    if (this.#conn && !this.#conn.isClosed) return Promise.resolve(this.#conn);
    this.#connecting ??= this.#connect(deadline).finally(() => (this.#connecting = undefined));
    return this.#connecting;
  }

  async #connect(deadline: number): Promise<Connection> {
    const start = this.#current ? this.trackers.indexOf(this.#current) + 1 : 0;
    let round = 0;
    while (!this.#closed && Date.now() < deadline) {
      for (let i = 0; i < this.trackers.length; i++) {
        const t = this.trackers[(start + i) % this.trackers.length]!;
        const conn = await this.#dial(t).catch(() => undefined);
        if (!conn) continue;
        this.#conn = conn;
        const previous = this.#current;
        this.#current = t;
        if (this.#token && !(await this.#resume(conn, deadline))) continue;
        if (previous && previous !== t) this.#log(`switched to tracker ${t.no} (${t.host}:${t.port})`);
        return conn;
      }
      await Bun.sleep(Math.min(200 * 2 ** round++, 2_000));
    }
    throw new Error("no tracker reachable");
  }

  /** Re-attaches the session on a new tracker; false if this tracker could not. */
  async #resume(conn: Connection, deadline: number): Promise<boolean> {
    const graceEnd = Math.min(Date.now() + RESUME_GRACE_MS, deadline);
    let renewed = false;
    for (;;) {
      const reply = await this.#send(conn, { t: "resume", token: this.#token! });
      if (!reply) return false;
      if (reply.ok) return true;
      const proof = this.#proof;
      if (proof && !renewed && this.#token) {
        // Unknown here: the login has not reached this tracker. The same token makes the same
        // session, so logging in again with it carries the session on, shares and all.
        renewed = true;
        const login = { t: "login", ...proof, token: this.#token, rid: this.newRid() };
        const again = await this.#send(conn, login);
        if (!again) return false;
        if (again.ok) {
          this.#log(`session carried on at tracker ${this.#current?.no}`);
          return true;
        }
      }
      if (Date.now() >= graceEnd) {
        this.setSession(undefined);
        this.onSessionLost?.(reply.reason);
        return true; // connected, but logged out
      }
      await Bun.sleep(200);
    }
  }

  #dial(t: TrackerAddress): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const handler = {
        message: (_conn: Connection, value: unknown) => {
          const msg = parseTrackerMessage(value);
          if (msg.t === "part") return this.#parts.get(msg.id)?.(msg.items);
          const reply: Reply = msg;
          if (reply.id === 0 && !reply.ok) this.#log(`tracker ${t.no}: ${reply.reason}`); // turned away
          this.#pending.get(reply.id)?.(reply);
        },
        close: (conn: Connection) => {
          for (const finish of conn.state.waiters as Set<Finish>) finish(undefined);
        },
      };
      Bun.connect<Connection>({
        hostname: t.host,
        port: t.port,
        socket: connectionHandlers((socket: Socket<Connection>) => {
          const conn = new Connection(socket, handler, { log: this.#log, idleTimeoutS: 0 });
          conn.state.waiters = new Set<Finish>();
          resolve(conn);
        }),
      }).catch(reject);
    });
  }
}
