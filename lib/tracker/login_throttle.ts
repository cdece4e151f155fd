// Slows down password guessing: after a few failed logins for one user id or from one
// address, each further attempt waits longer before it is answered. Pure: callers pass `nowMs`.

/** Failures forgiven without delay, the window they are counted in, and the longest delay. */
const FREE_FAILURES = 3;
const WINDOW_MS = 10 * 60_000;
const MAX_DELAY_MS = 8_000;
const BASE_DELAY_MS = 250;
const MAX_KEYS = 100_000;

export class LoginThrottle {
  #failures = new Map<string, { count: number; lastMs: number }>();

  /** How long to hold a login attempt for `user` from `address` before checking it. */
  delayMs(user: string, address: string, nowMs: number): number {
    const count = Math.max(this.#count(`u:${user}`, nowMs), this.#count(`a:${address}`, nowMs));
    if (count < FREE_FAILURES) return 0;
    return Math.min(BASE_DELAY_MS * 2 ** (count - FREE_FAILURES), MAX_DELAY_MS);
  }

  failed(user: string, address: string, nowMs: number): void {
    for (const key of [`u:${user}`, `a:${address}`]) {
      this.#failures.set(key, { count: this.#count(key, nowMs) + 1, lastMs: nowMs });
    }
    if (this.#failures.size > MAX_KEYS) this.#prune(nowMs); // bounded memory under a spray of ids
  }

  succeeded(user: string): void {
    this.#failures.delete(`u:${user}`);
  }

  #count(key: string, nowMs: number): number {
    const f = this.#failures.get(key);
    return f && nowMs - f.lastMs < WINDOW_MS ? f.count : 0;
  }

  #prune(nowMs: number): void {
    for (const [key, f] of this.#failures) if (nowMs - f.lastMs >= WINDOW_MS) this.#failures.delete(key);
    // Maps iterate in insertion order: the oldest failures go first.
    for (const key of this.#failures.keys()) {
      if (this.#failures.size <= MAX_KEYS) break;
      this.#failures.delete(key);
    }
  }
}
