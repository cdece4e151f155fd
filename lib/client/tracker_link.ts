// Shell: the client's connection to the tracker cluster. Uses the first live tracker in file
// order; when it dies, moves to the next by itself, resumes the session, and resends what was
// in flight with the same request id, so a retried write is applied once.
import type { Socket } from "bun";
import type { TrackerAddress, TrackerInfo } from "../config.ts";
import { messageOf } from "../errors.ts";
import type { TlsIdentity } from "../identity/key_file.ts";
import type { TrackerTrust } from "../identity/tracker_trust.ts";
import { Connection } from "../wire/connection.ts";
import type { Fields } from "../wire/fields.ts";
import { HEARTBEAT_MS, MAX_PENDING_REQUESTS } from "../wire/limits.ts";
import { connectTls, secureHandlers } from "../wire/tls.ts";
import { parseTrackerMessage, type Reply, TRACKER_MESSAGE_BOUNDS } from "../wire/tracker_protocol.ts";

/** The link's timings and limits; tests shorten them. */
export interface TrackerLinkOptions {
  /** How long one request may take, failovers included, before the user hears it failed. */
  requestTimeoutMs: number;
  /** How long to wait for one tracker's reply before judging it dead. */
  replyTimeoutMs: number;
  /** Requests in flight at once: below the MAX_PENDING_REQUESTS a tracker answers before refusing more. */
  maxInFlight: number;
  /** After a failover the login may still be on its way between trackers: retry resume this long. */
  resumeGraceMs: number;
  heartbeatMs: number;
}

export const TRACKER_LINK_DEFAULTS: TrackerLinkOptions = {
  requestTimeoutMs: 20_000,
  replyTimeoutMs: 8_000,
  maxInFlight: MAX_PENDING_REQUESTS / 2,
  resumeGraceMs: 3_000,
  heartbeatMs: HEARTBEAT_MS,
};

/** A tracker started with nothing stored refuses changes until it caught up (at most 3 s alone). */
const CATCHING_UP = /^tracker \d+ is catching up with the others/;
/** A tracker's answer to a request whose session it does not hold (NOT_LOGGED_IN in lib/replica/rules.ts). */
export const SESSION_GONE = /^not logged in: run login/;
const CATCH_UP_RETRY_MS = 250;

/** Our key, and the keys the trackers must present. */
export interface LinkSecurity {
  identity: TlsIdentity;
  trust: TrackerTrust;
}

/** A tracker presented a key its line does not allow: the whole reason, for an `error:` line. */
class KeyRefused extends Error {}

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

/** A connection to one tracker; its state is the requests waiting on it, settled when it closes. */
type Link = Connection<Set<Finish>>;

/** Where a request went: the reply and the tracker that answered it. */
export interface Answer {
  reply: Reply;
  tracker: number;
}

export class TrackerLink {
  readonly trackers: TrackerInfo;
  #log: (line: string) => void;
  #o: TrackerLinkOptions;
  #security: LinkSecurity;
  /** The last key refusal per tracker, logged once rather than at every retry. */
  #refusals = new Map<number, string>();
  #conn: Link | undefined;
  #current: TrackerAddress | undefined;
  #connecting: Promise<Link> | undefined;
  #nextId = 1;
  #pending = new Map<number, Finish>();
  #parts = new Map<number, OnPart>();
  /** Per request waiting for its reply: restarts its reply timer (the tracker showed it is alive). */
  #rearm = new Map<number, () => void>();
  #token: Uint8Array | undefined;
  #proof: SessionProof | undefined;
  #clientId = Buffer.from(crypto.getRandomValues(new Uint8Array(8))).toString("hex");
  #ridCounter = 0;
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  #inFlight = 0;
  #waitingForSlot: (() => void)[] = [];
  #closed = false;
  /** Called when the session is gone for good (no tracker knows it any more). */
  onSessionLost: ((reason: string) => void) | undefined;

  constructor(
    trackers: TrackerInfo,
    log: (line: string) => void,
    options: Partial<TrackerLinkOptions> & LinkSecurity,
  ) {
    this.trackers = trackers;
    this.#log = log;
    const { identity, trust, ...timings } = options;
    this.#security = { identity, trust };
    this.#o = { ...TRACKER_LINK_DEFAULTS, ...timings };
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
      }, this.#o.heartbeatMs);
    }
  }

  /**
   * Sends a request, failing over between trackers, until a reply or `requestTimeoutMs`. A
   * listing's entries go to `options.onPart` as they arrive; resent after a failover, it asks
   * only for the entries not yet received.
   */
  async request(body: Body, options: { onPart?: OnPart } = {}): Promise<Answer> {
    if (this.#inFlight >= this.#o.maxInFlight)
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
    const deadline = Date.now() + this.#o.requestTimeoutMs;
    let lastError = "no tracker reachable";
    let carriedOn = false;
    while (!this.#closed && Date.now() < deadline) {
      let conn: Link;
      try {
        conn = await this.#connection(deadline);
      } catch (err) {
        if (err instanceof KeyRefused) throw err; // already says what to do
        lastError = messageOf(err);
        break;
      }
      const reply = await this.#send(conn, received > 0 ? { ...body, skip: received } : body, counted);
      if (reply && !reply.ok && CATCHING_UP.test(reply.reason)) {
        await Bun.sleep(CATCH_UP_RETRY_MS); // a tracker that just started empty: it takes changes in a moment
        continue;
      }
      // The session ended under a live connection (expired while this client was cut off from
      // the majority, say), and we did not log out: carry it on as after a failover, once.
      if (reply && !reply.ok && SESSION_GONE.test(reply.reason) && body.t !== "logout" && !carriedOn) {
        carriedOn = true;
        if (await this.#carryOn(conn, reply.reason, deadline)) continue;
      }
      const answeredBy = this.#current;
      if (reply && answeredBy) return { reply, tracker: answeredBy.no };
      lastError = `tracker ${this.#current?.no} stopped answering`;
      conn.end();
    }
    // A tracker catching up says what to do itself; silence means none of them is up.
    if (CATCHING_UP.test(lastError)) throw new Error(lastError);
    throw new Error(`${lastError}: check that a tracker in tracker_info.txt is running`);
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#heartbeat);
    this.#conn?.end();
  }

  #send(conn: Link, body: Body, onPart?: OnPart): Promise<Reply | undefined> {
    const id = this.#nextId++;
    const waiters = conn.state;
    return new Promise((resolve) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const finish: Finish = (reply) => {
        clearTimeout(timer);
        this.#pending.delete(id);
        this.#parts.delete(id);
        this.#rearm.delete(id);
        waiters.delete(finish);
        resolve(reply);
      };
      const arm = () => {
        clearTimeout(timer);
        timer = setTimeout(() => finish(undefined), this.#o.replyTimeoutMs);
      };
      arm();
      this.#pending.set(id, finish);
      this.#rearm.set(id, arm);
      if (onPart) {
        // A listing's parts show the tracker is alive: each one restarts the reply timer.
        this.#parts.set(id, (items) => {
          arm();
          onPart(items);
        });
      }
      waiters.add(finish);
      // A request sent in parts (a share with many piece hashes): the wait for its reply starts
      // again once it is all with the kernel.
      if (!conn.send({ ...body, id })) void conn.drained().then(() => this.#rearm.get(id)?.());
      if (conn.isClosed) finish(undefined);
    });
  }

  /** The live connection, or a new one to the first tracker that accepts, resuming the session. */
  #connection(deadline: number): Promise<Link> {
    if (this.#conn && !this.#conn.isClosed) return Promise.resolve(this.#conn);
    this.#connecting ??= this.#connect(deadline).finally(() => (this.#connecting = undefined));
    return this.#connecting;
  }

  async #connect(deadline: number): Promise<Link> {
    const start = this.#current ? this.trackers.indexOf(this.#current) + 1 : 0;
    let round = 0;
    let refused: string | undefined;
    let catchingUp: string | undefined;
    while (!this.#closed && Date.now() < deadline) {
      let refusedNow = 0;
      for (let i = 0; i < this.trackers.length; i++) {
        const t = this.trackers[(start + i) % this.trackers.length];
        if (!t) continue;
        const conn = await this.#dial(t).catch((err: Error) => {
          if (err instanceof KeyRefused) {
            refused = err.message;
            refusedNow++;
          }
          return undefined;
        });
        if (!conn) continue;
        this.#conn = conn;
        const previous = this.#current;
        this.#current = t;
        const resumed = this.#token ? await this.#resume(conn, this.#token, deadline) : true;
        if (resumed !== true) {
          if (typeof resumed === "string") catchingUp = resumed;
          continue;
        }
        if (previous && previous !== t) this.#log(`switched to tracker ${t.no} (${t.host}:${t.port})`);
        return conn;
      }
      // Every tracker answered with a key we refuse: waiting will not change that.
      if (refused !== undefined && refusedNow === this.trackers.length) throw new KeyRefused(refused);
      await Bun.sleep(Math.max(0, Math.min(200 * 2 ** round++, 2_000, deadline - Date.now())));
    }
    if (refused !== undefined) throw new KeyRefused(refused);
    if (catchingUp !== undefined) throw new Error(catchingUp);
    throw new Error("no tracker reachable");
  }

  /**
   * Re-attaches the session on a new tracker: true when done (or the session is gone for good),
   * false if this tracker stopped answering, and the tracker's reason if it is catching up with
   * the others: it may not hold the session yet, so another one is tried, or this one again in
   * a moment, and the session is kept. It is lost only when a tracker that lacks nothing the
   * others hold knows it not, and will not take the login again.
   */
  async #resume(conn: Link, token: Uint8Array, deadline: number): Promise<boolean | string> {
    const graceEnd = Math.min(Date.now() + this.#o.resumeGraceMs, deadline);
    let renewed = false;
    for (;;) {
      const reply = await this.#send(conn, { t: "resume", token });
      if (!reply) return false;
      if (reply.ok) return true;
      let reason = reply.reason;
      const proof = this.#proof;
      if (proof && !renewed) {
        // Unknown here, or not yet: the login has not reached this tracker. The same token makes
        // the same session, so logging in again with it carries the session on, shares and all
        // (a tracker behind the others takes it if the user has reached it).
        renewed = true;
        const again = await this.#logInAgain(conn, token, proof, "");
        if (!again) return false;
        if (again.ok) return true;
        reason = again.reason;
      }
      if (CATCHING_UP.test(reason)) {
        conn.end();
        return reason;
      }
      if (Date.now() >= graceEnd) {
        this.setSession(undefined);
        this.onSessionLost?.(reply.reason);
        return true; // connected, but logged out
      }
      await Bun.sleep(200);
    }
  }

  /**
   * Logs in again with the session's token on `conn`, the session having ended there: true if
   * it goes on; otherwise it is lost, said once through onSessionLost. False without a session.
   */
  async #carryOn(conn: Link, reason: string, deadline: number): Promise<boolean> {
    const token = this.#token;
    const proof = this.#proof;
    if (!token || !proof) return false;
    for (;;) {
      const again = await this.#logInAgain(conn, token, proof, " (it had ended there)");
      if (!again) return true; // the connection died: a failover resumes the session as usual
      if (again.ok) return true;
      if (!CATCHING_UP.test(again.reason) || Date.now() >= deadline) {
        this.setSession(undefined);
        this.onSessionLost?.(CATCHING_UP.test(again.reason) ? reason : again.reason);
        return false;
      }
      await Bun.sleep(CATCH_UP_RETRY_MS);
    }
  }

  /** A login with the session's token: the same session goes on, shares and all. */
  async #logInAgain(
    conn: Link,
    token: Uint8Array,
    proof: SessionProof,
    why: string,
  ): Promise<Reply | undefined> {
    const reply = await this.#send(conn, { t: "login", ...proof, token, rid: this.newRid() });
    if (reply?.ok) this.#log(`session carried on at tracker ${this.#current?.no}${why}`);
    return reply;
  }

  #dial(t: TrackerAddress): Promise<Link> {
    return new Promise((resolve, reject) => {
      const handler = {
        message: (_conn: Link, value: unknown) => {
          const msg = parseTrackerMessage(value);
          if (msg.t === "part") return this.#parts.get(msg.id)?.(msg.items);
          const reply: Reply = msg;
          if (reply.id === 0 && !reply.ok) this.#log(`tracker ${t.no}: ${reply.reason}`); // turned away
          this.#pending.get(reply.id)?.(reply);
        },
        close: (conn: Link) => {
          for (const finish of conn.state) finish(undefined);
        },
        // A reply coming in parts (a file_info with many piece hashes): the tracker is alive.
        part: () => {
          for (const arm of this.#rearm.values()) arm();
        },
      };
      let refusal: string | undefined;
      Bun.connect<Link>({
        hostname: t.host,
        port: t.port,
        tls: connectTls(this.#security.identity),
        socket: secureHandlers(
          (socket: Socket<Link>) => {
            this.#refusals.delete(t.no);
            // A file_info reply with a large piece-hash list comes in parts.
            const options = { log: this.#log, idleTimeoutS: 0, messageBounds: TRACKER_MESSAGE_BOUNDS };
            resolve(new Connection(socket, handler, new Set<Finish>(), options));
          },
          {
            check: (key) => (refusal = this.#security.trust.check(t, key)),
            failed: (reason) => {
              if (refusal === undefined) return reject(new Error(reason));
              if (this.#refusals.get(t.no) !== refusal) this.#log(`error: ${refusal}`);
              this.#refusals.set(t.no, refusal);
              reject(new KeyRefused(refusal));
            },
          },
        ),
      }).catch(reject);
    });
  }
}
