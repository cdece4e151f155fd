// Which sessions are alive: soft state, not replicated as operations. A session is live while
// some tracker heard its client's heartbeat recently. Pure: callers pass `nowMs`.

/** Clients heartbeat every HEARTBEAT_MS (lib/wire/limits.ts); a session unheard this long is not offered as a peer. */
export const LIVE_WINDOW_MS = 6_000;
/**
 * A session unheard for this long by every tracker in touch (its client vanished without a
 * logout) is ended everywhere by a replicated expire_sessions op. `--session-expiry` changes it.
 */
export const SESSION_EXPIRY_MS = 10 * 60_000;

export class Liveness {
  #local = new Map<string, number>(); // heard here
  #remote = new Map<string, number>(); // heard by another tracker, as of our clock
  #lastHeard = new Map<string, number>(); // here or by another tracker, kept until the session ends

  /** A heartbeat (or any request) from a client connected here. */
  touch(session: string, nowMs: number): void {
    this.#local.set(session, nowMs);
    this.#lastHeard.set(session, nowMs);
  }

  /** Another tracker reports these sessions alive `heardAgoMs` before `nowMs` (0 for "just now"). */
  reported(sessions: Iterable<string | [string, number]>, nowMs: number): void {
    for (const entry of sessions) {
      const [s, agoMs] = typeof entry === "string" ? [entry, 0] : entry;
      const at = nowMs - agoMs;
      if (at > (this.#remote.get(s) ?? -Infinity)) this.#remote.set(s, at);
      if (at > (this.#lastHeard.get(s) ?? -Infinity)) this.#lastHeard.set(s, at);
    }
  }

  /** The session ended (logout): forget it at once. */
  forget(session: string): void {
    this.#local.delete(session);
    this.#remote.delete(session);
    this.#lastHeard.delete(session);
  }

  /**
   * Of `sessions` (those in the state), the ones unheard for `afterMs`, counting from `sinceMs`
   * for those not heard at all since (this tracker's start): at most `max` of them. Forgets what
   * it heard of sessions no longer in the state.
   */
  silent(
    sessions: ReadonlyMap<string, unknown>,
    options: { nowMs: number; afterMs: number; sinceMs: number; max: number },
  ): string[] {
    for (const s of this.#lastHeard.keys()) if (!sessions.has(s)) this.#lastHeard.delete(s);
    const silent: string[] = [];
    for (const s of sessions.keys()) {
      if (silent.length >= options.max) break;
      if (options.nowMs - (this.#lastHeard.get(s) ?? options.sinceMs) >= options.afterMs) silent.push(s);
    }
    return silent;
  }

  isLive(session: string, nowMs: number): boolean {
    const seen = Math.max(this.#local.get(session) ?? -Infinity, this.#remote.get(session) ?? -Infinity);
    return nowMs - seen <= LIVE_WINDOW_MS;
  }

  /** Sessions heard here within the window and how long ago, to gossip (never relays what others told us). */
  heardHere(nowMs: number): [string, number][] {
    const live: [string, number][] = [];
    for (const [s, at] of this.#local) {
      if (nowMs - at <= LIVE_WINDOW_MS) live.push([s, nowMs - at]);
      else this.#local.delete(s);
    }
    for (const [s, at] of this.#remote) if (nowMs - at > LIVE_WINDOW_MS) this.#remote.delete(s);
    return live;
  }

  /** Count of sessions live now. */
  liveCount(nowMs: number): number {
    const all = new Set([...this.#local.keys(), ...this.#remote.keys()]);
    return [...all].filter((s) => this.isLive(s, nowMs)).length;
  }
}
