// Hand-made peers for e2e tests, speaking our own wire protocols from the test process:
//
//   - TrackerSession: a client session at a tracker (lib/wire/tracker_protocol.ts over
//     lib/wire/connection.ts): logs in with a token of its own, heartbeats like ./client, and
//     makes raw requests (share, ...). It knows its session id, so it can prove itself to seeders.
//   - startRawSeeder: a peer that logs in and shares a real file with its true hashes exactly as
//     ./client does, and serves it, recording every piece request; startBadSeeder is one that
//     answers every request with corrupted bytes.
//   - helloSeeder: connects to a seeder, answers its challenge with a proof from a given
//     session, and returns the seeder's first answer (p_bitfield or p_refuse).
//
//   const mallory = await startBadSeeder({ tracker: cluster.slots[0]!, user: "mallory", pass: "pw", group: "g", path });
//   ... mallory.stats.corrupted ...
//   afterEach(stopBadPeers); // closes every session and listener made here
//
// Test helper (never a spec file).

import { closeSync, openSync, readSync } from "node:fs";
import { basename } from "node:path";
import type { Socket, TCPSocketListener } from "bun";
import { hashFile } from "../../lib/client/hash_file.ts";
import type { TlsIdentity } from "../../lib/identity/key_file.ts";
import { peerProof, sessionId } from "../../lib/peer/auth.ts";
import { Bitfield } from "../../lib/pieces/bitfield.ts";
import { PIECE_BYTES, pieceCount, pieceLength } from "../../lib/pieces/constants.ts";
import type { FileDigest } from "../../lib/pieces/hash.ts";
import { Connection } from "../../lib/wire/connection.ts";
import type { Fields } from "../../lib/wire/fields.ts";
import { HEARTBEAT_MS } from "../../lib/wire/limits.ts";
import { type PeerMessage, PIECE_PART_BYTES, parsePeerMessage } from "../../lib/wire/peer_protocol.ts";
import { connectTls, listenTls, type PeerKey, secureHandlers } from "../../lib/wire/tls.ts";
import { parseReply, type Reply, TRACKER_MESSAGE_BOUNDS } from "../../lib/wire/tracker_protocol.ts";
import { TEST_IDENTITY } from "./identity.ts";
import { freePort } from "./wait.ts";

const HOST = "127.0.0.1";
const REPLY_TIMEOUT_MS = 10_000;

const open = new Set<{ close(): void }>();

/** Closes every session, seeder and raw connection made by this module. */
export async function stopBadPeers(): Promise<void> {
  for (const thing of open) thing.close();
  open.clear();
}

/** A raw tracker connection carrying one client session (or none yet). */
export class TrackerSession {
  readonly token = crypto.getRandomValues(new Uint8Array(32));
  /** What the tracker stores and what proofs are keyed by. */
  readonly sessionId = sessionId(this.token);
  #conn: Connection;
  #nextId = 1;
  #pending = new Map<number, (reply: Reply) => void>();
  #heartbeat: ReturnType<typeof setInterval> | undefined;

  private constructor(conn: Connection) {
    this.#conn = conn;
  }

  /** Connects to a tracker presenting `identity` (the key its login registers); nothing is sent yet. */
  static async connect(
    tracker: { host: string; port: number },
    identity: TlsIdentity = TEST_IDENTITY,
  ): Promise<TrackerSession> {
    let session!: TrackerSession;
    const handler = {
      message: (_conn: Connection, value: unknown) => {
        const reply = parseReply(value);
        session.#pending.get(reply.id)?.(reply);
      },
    };
    await new Promise<void>((resolve, reject) => {
      Bun.connect<Connection>({
        hostname: tracker.host,
        port: tracker.port,
        tls: connectTls(identity),
        socket: secureHandlers(
          (socket: Socket<Connection>) => {
            session = new TrackerSession(
              // As ./client: a reply with many piece hashes comes in parts.
              new Connection(socket, handler, undefined, {
                idleTimeoutS: 0,
                log: () => {},
                messageBounds: TRACKER_MESSAGE_BOUNDS,
              }),
            );
            resolve();
          },
          { failed: (reason) => reject(new Error(reason)) },
        ),
      }).catch(reject);
    });
    open.add(session);
    return session;
  }

  /** Sends one request and resolves with the tracker's reply. */
  request(body: { t: string } & Fields): Promise<Reply> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`no reply to ${body.t} within ${REPLY_TIMEOUT_MS} ms`));
      }, REPLY_TIMEOUT_MS);
      this.#pending.set(id, (reply) => {
        clearTimeout(timer);
        this.#pending.delete(id);
        resolve(reply);
      });
      this.#conn.send({ ...body, id });
    });
  }

  /** A request that must succeed: its reply data, or throws with the tracker's reason. */
  async ok(body: { t: string } & Fields): Promise<Fields> {
    const reply = await this.request(body);
    if (!reply.ok) throw new Error(`${body.t} failed: ${reply.reason}`);
    return reply.data;
  }

  /** Logs in as `user` serving pieces at `peer` (host:port), then heartbeats as ./client does. */
  async login(user: string, pass: string, peer: string): Promise<void> {
    await this.ok({
      t: "login",
      user,
      pass,
      peer,
      token: this.token,
      rid: `raw-${this.sessionId.slice(0, 8)}-login`,
    });
    this.#heartbeat = setInterval(() => void this.request({ t: "heartbeat" }).catch(() => {}), HEARTBEAT_MS);
  }

  /** Registers a file (its true hashes) as shared from this session's peer address. */
  async share(group: string, name: string, digest: FileDigest): Promise<void> {
    await this.ok({
      t: "share",
      group,
      name,
      sizeBytes: digest.sizeBytes,
      sha1: digest.sha1,
      pieces: digest.pieces,
      rid: `raw-${this.sessionId.slice(0, 8)}-share-${name}`,
    });
  }

  close(): void {
    clearInterval(this.#heartbeat);
    this.#conn.end();
  }
}

/** What a raw seeder has seen and done. */
export interface SeederStats {
  /** Connections downloaders opened to it. */
  connections: number;
  /** Of those, the ones still open. */
  live: number;
  /** p_request messages received. */
  requests: number;
  /** The piece index of each p_request, in arrival order. */
  requested: number[];
  /** Pieces sent with corrupted bytes. */
  corrupted: number;
  /** With `withhold`: the piece whose last part it holds back now. */
  withheld: number | undefined;
  /** The figures of the p_arriving messages received, in arrival order. */
  arriving: number[];
  /** The latest figure of pieces arriving at the downloader, from a p_arriving or a p_request. */
  told: number | undefined;
}

export interface RawSeeder {
  /** host:port it serves on, and is registered at the tracker with. */
  peer: string;
  stats: SeederStats;
  session: TrackerSession;
  /**
   * With `withhold`: sends the last part of the piece held back (`corrupt`: wrong bytes in it),
   * then starts the next piece asked for, holding its last part back too.
   */
  release(options?: { corrupt?: boolean }): void;
  close(): void;
}

interface SeederOptions {
  tracker: { host: string; port: number };
  user: string;
  pass: string;
  group: string;
  path: string;
  /** The key its listener presents (default TEST_IDENTITY, the one its session registers). */
  listenIdentity?: TlsIdentity | undefined;
}

/**
 * Logs in as `user` (who must be a member of `group`) at `tracker`, shares the file at `path`
 * under its base name with its true SHA-1s, and serves it on a free port the way ./client
 * does (challenge, bitfield of every piece, one piece in parts per p_request), except that every
 * piece it sends has its bytes corrupted (same length, wrong SHA-1).
 */
export function startBadSeeder(options: SeederOptions): Promise<RawSeeder> {
  return startRawSeeder({ ...options, corrupt: true });
}

/**
 * A raw seeder of true bytes (or, with `stall`, none) for `user`, made a member of group "g" by
 * groupOf (password `pw-<user>`), logging in at tracker 1 of `cluster`.
 */
export function memberSeeder(
  cluster: { slots: readonly { host: string; port: number }[] },
  user: string,
  path: string,
  options: { listenIdentity?: TlsIdentity; stall?: boolean; withhold?: boolean; skipPart?: boolean } = {},
): Promise<RawSeeder> {
  const tracker = cluster.slots[0];
  if (!tracker) throw new Error("memberSeeder: the cluster has no tracker");
  return startRawSeeder({ tracker, user, pass: `pw-${user}`, group: "g", path, corrupt: false, ...options });
}

/**
 * Like startBadSeeder; with `corrupt: false` it serves the true bytes, with `stall` it never
 * answers, with `withhold` it sends one piece at a time but its last part, until `release()`,
 * with `skipPart` it leaves out the second part of every piece (the rest follow as if sent).
 */
export async function startRawSeeder(
  options: SeederOptions & { corrupt: boolean; stall?: boolean; withhold?: boolean; skipPart?: boolean },
): Promise<RawSeeder> {
  const digest = await hashFile(options.path);
  const count = pieceCount(digest.sizeBytes);
  const all = new Bitfield(count);
  for (let i = 0; i < count; i++) all.set(i);
  const stats: SeederStats = {
    connections: 0,
    live: 0,
    requests: 0,
    requested: [],
    corrupted: 0,
    withheld: undefined,
    arriving: [],
    told: undefined,
  };
  const fd = openSync(options.path, "r");
  const read = (index: number) => {
    const data = new Uint8Array(pieceLength(digest.sizeBytes, index));
    readSync(fd, data, 0, data.byteLength, index * PIECE_BYTES);
    return data;
  };
  // withhold: the requests waiting, and the piece whose last part is held back.
  const waiting: { conn: Connection; index: number }[] = [];
  let held: { conn: Connection; index: number; data: Uint8Array; last: number } | undefined;
  const holdNext = () => {
    for (let next = waiting.shift(); next && !held; next = waiting.shift()) {
      if (next.conn.isClosed) continue;
      const data = read(next.index);
      const last = Math.floor((data.byteLength - 1) / PIECE_PART_BYTES) * PIECE_PART_BYTES;
      sendPiece(next.conn, next.index, data.subarray(0, last));
      held = { ...next, data, last };
      stats.withheld = next.index;
    }
  };
  const handler = {
    message(conn: Connection, value: unknown): void {
      const msg = parsePeerMessage(value);
      if (msg.t === "p_hello") {
        conn.send({ t: "p_bitfield", bits: all.toBytes() });
      } else if (msg.t === "p_arriving") {
        stats.arriving.push(msg.count);
        stats.told = msg.count;
      } else if (msg.t === "p_request") {
        stats.requests++;
        stats.requested.push(msg.index);
        if (msg.arriving !== undefined) stats.told = msg.arriving;
        if (options.stall) return; // accepted the connection, announced everything, sends nothing
        if (options.withhold) {
          waiting.push({ conn, index: msg.index });
          holdNext();
          return;
        }
        const data = read(msg.index);
        if (options.corrupt) {
          for (let i = 0; i < data.byteLength; i += 4096) data[i]! ^= 0xff;
          stats.corrupted++;
        }
        if (options.skipPart) {
          conn.send({ t: "p_part", index: msg.index, offset: 0, data: data.subarray(0, PIECE_PART_BYTES) });
          conn.send({
            t: "p_part",
            index: msg.index,
            offset: 2 * PIECE_PART_BYTES,
            data: data.subarray(2 * PIECE_PART_BYTES, 3 * PIECE_PART_BYTES),
          });
        } else sendPiece(conn, msg.index, data);
      }
    },
    close(): void {
      stats.live--;
    },
  };
  const port = freePort();
  const listener: TCPSocketListener<Connection> = Bun.listen<Connection>({
    hostname: HOST,
    port,
    // The key its session registers (TrackerSession's default): downloaders check it.
    tls: listenTls(options.listenIdentity ?? TEST_IDENTITY),
    socket: secureHandlers((socket: Socket<Connection>) => {
      stats.connections++;
      stats.live++;
      const conn = new Connection(socket, handler, undefined, { log: () => {} });
      conn.send({ t: "p_challenge", nonce: crypto.getRandomValues(new Uint8Array(32)) });
    }),
  });
  const peer = `${HOST}:${port}`;
  const session = await TrackerSession.connect(options.tracker);
  await session.login(options.user, options.pass, peer);
  await session.share(options.group, basename(options.path), digest);
  const seeder: RawSeeder = {
    peer,
    stats,
    session,
    release(how = {}) {
      if (!held) throw new Error("release: no piece is held back");
      const { conn, index, data, last } = held;
      const tail = data.slice(last);
      if (how.corrupt) {
        tail[0]! ^= 0xff;
        stats.corrupted++;
      }
      conn.send({ t: "p_part", index, offset: last, data: tail });
      held = undefined;
      stats.withheld = undefined;
      holdNext();
    },
    close() {
      session.close();
      listener.stop(true);
      closeSync(fd);
      open.delete(seeder);
    },
  };
  open.add(seeder);
  return seeder;
}

/** Options of helloSeeder. */
export interface HelloOptions {
  /** host:port of the seeder to connect to. */
  seeder: string;
  /** The session id the proof is keyed with. */
  session: string;
  /** The peer address the hello claims. */
  selfPeer: string;
  group: string;
  name: string;
  /** The seeder address the proof is made for (default `seeder`; another one makes a replay). */
  proofFor?: string | undefined;
  /** The key presented (default TEST_IDENTITY, TrackerSession's default). */
  identity?: TlsIdentity | undefined;
  /** The channel binding the proof is made for (default this connection's; another one is a relay). */
  binding?: Uint8Array | undefined;
}

/** A downloader's connection to a seeder, spoken by hand: every message after the hello's answer is kept. */
export interface RawDownloader {
  /** The seeder's answer to the hello: p_bitfield when admitted, p_refuse otherwise. */
  first: PeerMessage;
  /** The first message not yet taken that `match`es (taking it), or undefined after `timeoutMs`. */
  next(match: (m: PeerMessage) => boolean, timeoutMs: number): Promise<PeerMessage | undefined>;
  send(m: PeerMessage): void;
  close(): void;
}

/**
 * Connects to a seeder, waits for its challenge and answers it with a p_hello for
 * `group`/`name` from `selfPeer`, proved with `session`; returns the first message the seeder
 * sends back (p_bitfield when admitted, p_refuse otherwise).
 */
export async function helloSeeder(options: HelloOptions): Promise<PeerMessage> {
  const link = await openDownloader(options);
  link.close();
  return link.first;
}

/** helloSeeder, keeping the connection: what the seeder sends next can be waited for. */
export async function openDownloader(options: HelloOptions): Promise<RawDownloader> {
  const at = options.seeder.lastIndexOf(":");
  let conn: Connection | undefined;
  let seederKey: PeerKey | undefined;
  const kept: PeerMessage[] = [];
  let wake = () => {};
  const answer = new Promise<PeerMessage>((resolve, reject) => {
    let answered = false;
    const handler = {
      message(c: Connection, value: unknown): void {
        const msg = parsePeerMessage(value);
        if (msg.t === "p_challenge") {
          const binding = options.binding ?? seederKey?.binding ?? new Uint8Array(0);
          const proof = peerProof(options.session, options.proofFor ?? options.seeder, {
            nonce: msg.nonce,
            binding,
          });
          c.send({ t: "p_hello", group: options.group, name: options.name, peer: options.selfPeer, proof });
        } else if (!answered) {
          answered = true;
          resolve(msg);
        } else {
          kept.push(msg);
          wake();
        }
      },
      close: () => reject(new Error(`seeder ${options.seeder} closed the connection without an answer`)),
    };
    Bun.connect<Connection>({
      hostname: options.seeder.slice(0, at),
      port: Number(options.seeder.slice(at + 1)),
      tls: connectTls(options.identity ?? TEST_IDENTITY),
      socket: secureHandlers(
        (socket: Socket<Connection>, seeder: PeerKey) => {
          seederKey = seeder;
          conn = new Connection(socket, handler, undefined, { log: () => {} });
        },
        { failed: (reason) => reject(new Error(reason)) },
      ),
    }).catch(reject);
  });
  const closer = { close: () => conn?.end() };
  open.add(closer);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no answer from seeder ${options.seeder} within ${REPLY_TIMEOUT_MS} ms`)),
      REPLY_TIMEOUT_MS,
    );
  });
  let first: PeerMessage;
  try {
    first = await Promise.race([answer, timeout]);
  } catch (err) {
    closer.close();
    open.delete(closer);
    throw err;
  } finally {
    clearTimeout(timer);
  }
  return {
    first,
    async next(match, timeoutMs) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const i = kept.findIndex(match);
        if (i >= 0) return kept.splice(i, 1)[0];
        const left = until - Date.now();
        if (left <= 0) return undefined;
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, left);
          wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
      }
    },
    send: (m) => conn?.send(m),
    close() {
      closer.close();
      open.delete(closer);
    },
  };
}

/** Sends piece `index` as ./client does: in parts of PIECE_PART_BYTES, in order. */
export function sendPiece(conn: Connection, index: number, data: Uint8Array): void {
  for (let offset = 0; offset < data.byteLength; offset += PIECE_PART_BYTES)
    conn.send({ t: "p_part", index, offset, data: data.subarray(offset, offset + PIECE_PART_BYTES) });
}
