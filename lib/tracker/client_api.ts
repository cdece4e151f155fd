// Shell: answers one client request from the replica, committing changes through the tracker core.
import { timingSafeEqual } from "node:crypto";
import { parseAddress } from "../config.ts";
import { messageOf } from "../errors.ts";
import { peerProof, sessionId } from "../peer/auth.ts";
import type { Change, Outcome } from "../replica/change.ts";
import type { Replica } from "../replica/replica.ts";
import { NOT_LOGGED_IN } from "../replica/rules.ts";
import type { Group } from "../replica/state.ts";
import type { Fields } from "../wire/fields.ts";
import { itemParts } from "../wire/parts.ts";
import {
  LISTING_FIRST_ITEMS,
  LISTING_PART_BYTES,
  LISTING_PART_ITEMS,
  type Reply,
  type Request,
} from "../wire/tracker_protocol.ts";
import type { FileInfo, FileSummary, GroupSummary } from "../wire/tracker_replies.ts";
import type { Liveness } from "./liveness.ts";
import type { LoginThrottle } from "./login_throttle.ts";

/**
 * argon2id at OWASP's recommended minimum (19 MiB, 2 passes): Bun's default (64 MiB) made 200
 * concurrent logins take 4 s and a tracker's memory peak at 340 MiB. Stored hashes carry their
 * own parameters, so older ones still verify.
 */
const PASSWORD_HASH = { algorithm: "argon2id", memoryCost: 19_456, timeCost: 2 } as const;

/** What request handling needs of the tracker. */
export interface TrackerCore {
  replica: Replica;
  liveness: Liveness;
  throttle: LoginThrottle;
  /** Applies a local change, persists it and pushes it to the other trackers. */
  commit(change: Change, rid?: string): Outcome;
  nowMs(): number;
}

/** Per-connection client state. */
export interface ClientState {
  /** The client's IP address, for per-address limits. */
  address: string;
  /** The id of the key it presented in the TLS handshake. */
  key: string;
  session?: string;
}

/**
 * Sends one part of a listing ahead of its reply; resolves once the connection can take more
 * (a listing of any length is paced by its reader, never queued whole). Rejects if it closed.
 */
export type SendPart = (items: readonly object[]) => Promise<void>;

/** Answers one request; never throws for anything the client did. */
export async function handleRequest(
  core: TrackerCore,
  client: ClientState,
  req: Request,
  sendPart: SendPart,
): Promise<Reply> {
  const ok = (data: Fields = {}): Reply => ({ id: req.id, ok: true, data });
  const fail = (reason: string): Reply => ({ id: req.id, ok: false, reason });
  const done = (outcome: Outcome, data: Fields = {}): Reply => (outcome.ok ? ok(data) : fail(outcome.reason));

  if (req.t === "create_user") {
    if (core.replica.state.users.has(req.user))
      return fail(`user "${req.user}" already exists: pick another user id`);
    const hash = await Bun.password.hash(req.pass, PASSWORD_HASH);
    return done(core.commit({ kind: "create_user", user: req.user, hash }, req.rid));
  }
  if (req.t === "login") {
    try {
      parseAddress(req.peer, "peer address");
    } catch (err) {
      return fail(messageOf(err));
    }
    const wait = core.throttle.delayMs(req.user, client.address, core.nowMs());
    if (wait > 0) await Bun.sleep(wait);
    const user = core.replica.state.users.get(req.user);
    // One message for both cases, so a stranger cannot probe which user ids exist.
    if (!user || !(await Bun.password.verify(req.pass, user.hash))) {
      // Behind the others, the user may exist elsewhere: "try again", not "wrong" (the same
      // answer for a wrong password then, so that it reveals nothing either; only that counts).
      const behind = core.replica.lacksOpsHeldElsewhere();
      if (user || !behind) core.throttle.failed(req.user, client.address, core.nowMs());
      return fail(behind ? core.replica.catchingUpReason : "wrong user id or password");
    }
    core.throttle.succeeded(req.user);
    const session = sessionId(req.token);
    const outcome = core.commit(
      // The key this client presented is its session's: seeders and downloaders pin it.
      { kind: "login", user: req.user, hash: user.hash, session, peer: req.peer, key: client.key },
      req.rid,
    );
    if (outcome.ok) {
      client.session = session;
      core.liveness.touch(session, core.nowMs());
    }
    return done(outcome, { user: req.user });
  }
  if (req.t === "resume") {
    const session = sessionId(req.token);
    const known = core.replica.state.sessions.get(session);
    if (!known)
      return fail(
        core.replica.lacksOpsHeldElsewhere()
          ? core.replica.catchingUpReason
          : "session unknown to this tracker: log in again",
      );
    if (known.key !== client.key)
      return fail("session belongs to another client key: log in again from this client");
    client.session = session;
    core.liveness.touch(session, core.nowMs());
    return ok({ user: known.user, peer: known.peer });
  }

  const session = client.session === undefined ? undefined : core.replica.state.sessions.get(client.session);
  if (!session || client.session === undefined) return fail(NOT_LOGGED_IN);
  const sid = client.session;
  const user = session.user;
  core.liveness.touch(sid, core.nowMs());
  const state = core.replica.state;
  const member = (group: string): Group | Reply => {
    const g = state.groups.get(group);
    if (!g) return fail(`no group "${group}": see list_groups`);
    if (!g.members.has(user))
      return fail(`you are not a member of "${group}": run join_group ${group} and ask its owner to accept`);
    return g;
  };

  switch (req.t) {
    case "heartbeat":
      return ok();
    case "whoami":
      return ok({ user, peer: session.peer });
    case "logout": {
      const outcome = core.commit({ kind: "logout", session: sid }, req.rid);
      if (outcome.ok) {
        core.liveness.forget(sid);
        delete client.session;
      }
      return done(outcome);
    }
    case "create_group":
    case "join_group":
    case "leave_group":
      return done(core.commit({ kind: req.t, user, session: sid, group: req.group }, req.rid));
    case "accept_request":
    case "reject_request":
      return done(
        core.commit({ kind: req.t, user, session: sid, group: req.group, member: req.user }, req.rid),
      );
    case "list_groups": {
      const entries = mapEntries(
        state.groups,
        ([id, g]): GroupSummary => ({ id, owner: g.owner, members: g.members.size, files: g.files.size }),
      );
      return ok({ count: await sendListing(entries, req.skip, sendPart) });
    }
    case "list_requests": {
      const g = state.groups.get(req.group);
      if (!g) return fail(`no group "${req.group}": see list_groups`);
      if (g.owner !== user)
        return fail(`only the owner of "${req.group}" (${g.owner}) can list its join requests`);
      return ok({ users: [...g.pending] });
    }
    case "list_files": {
      const g = member(req.group);
      if (!("files" in g)) return g;
      const entries = mapEntries(
        g.files.values(),
        (f): FileSummary => ({
          name: f.name,
          sizeBytes: f.sizeBytes,
          seeders: livePeers(core, f.sharers, core.nowMs()).length,
        }),
      );
      return ok({ count: await sendListing(entries, req.skip, sendPart) });
    }
    case "share":
      return done(
        core.commit(
          {
            kind: "share",
            user,
            session: sid,
            group: req.group,
            file: { name: req.name, sizeBytes: req.sizeBytes, sha1: req.sha1, pieces: req.pieces },
          },
          req.rid,
        ),
      );
    case "unshare":
      return done(
        core.commit({ kind: "unshare", user, session: sid, group: req.group, name: req.name }, req.rid),
      );
    case "file_info": {
      const g = member(req.group);
      if (!("files" in g)) return g;
      const f = g.files.get(req.name);
      if (!f) return fail(`no file "${req.name}" in "${req.group}": see list_files ${req.group}`);
      const peers = livePeers(core, f.sharers, core.nowMs()).filter((p) => p !== session.peer);
      // The key each seeder's session registered: the downloader refuses a seeder presenting another.
      const keys: Record<string, string> = {};
      for (const p of peers) keys[p] = state.sessions.get(state.peerSessions.get(p) ?? "")?.key ?? "";
      const info: FileInfo = {
        name: f.name,
        sizeBytes: f.sizeBytes,
        sha1: f.sha1,
        pieces: f.pieces,
        peers,
        keys,
      };
      return ok({ ...info });
    }
    case "check_peer": {
      // A downloader proves its session to a seeder without revealing it: HMAC keyed by its
      // session id over the seeder's address, the seeder's nonce and their TLS connection's
      // binding (see peerProof); and it must have presented its session's key there.
      const theirs = state.peerSessions.get(req.peer);
      const them = theirs === undefined ? undefined : state.sessions.get(theirs);
      const channel = { nonce: req.nonce, binding: req.binding };
      if (
        !them ||
        theirs === undefined ||
        !timingSafeEqual(peerProof(theirs, session.peer, channel), req.proof)
      ) {
        return fail(`peer ${req.peer} is not logged in`);
      }
      if (them.key !== req.key)
        return fail(
          `peer ${req.peer} presented key ${req.key}, not its session's key ${them.key || "(none)"}`,
        );
      if (!state.groups.get(req.group)?.members.has(them.user))
        return fail(`${them.user} is not a member of "${req.group}"`);
      return ok({ user: them.user });
    }
  }
}

/** Entry bytes at most: up to two 255-byte names and a few numbers, CBOR-encoded. */
const LISTING_ENTRY_BYTES = 2 * 255 + 64;

/**
 * Sends a listing's entries as parts (the first one small, so its first line comes at once),
 * after skipping those a resent request already got; returns how many it sent. The entries are
 * read as they are sent: a change made meanwhile may or may not show, as with any listing.
 */
async function sendListing(entries: Iterable<object>, skip: number, sendPart: SendPart): Promise<number> {
  let sent = 0;
  const parts = itemParts(dropFirst(entries, skip), {
    maxItems: LISTING_PART_ITEMS,
    maxBytes: LISTING_PART_BYTES,
    sizeOf: () => LISTING_ENTRY_BYTES,
    firstItems: LISTING_FIRST_ITEMS,
  });
  for (const items of parts) {
    await sendPart(items);
    sent += items.length;
  }
  return sent;
}

function* mapEntries<T, U>(items: Iterable<T>, map: (item: T) => U): Generator<U> {
  for (const item of items) yield map(item);
}

function* dropFirst<T>(items: Iterable<T>, count: number): Generator<T> {
  let left = count;
  for (const item of items) {
    if (left > 0) left--;
    else yield item;
  }
}

/** The addresses of sharers whose sessions are live now. */
function livePeers(core: TrackerCore, sharers: Map<string, string>, nowMs: number): string[] {
  const state = core.replica.state;
  return [...sharers.keys()].filter((peer) => {
    const sid = state.peerSessions.get(peer);
    return sid !== undefined && core.liveness.isLive(sid, nowMs);
  });
}
