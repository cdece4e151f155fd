// What this client serves: each shared or downloading file, its path, its verified pieces and
// the pieces it is receiving (offered on while they arrive: lib/peer/arriving.ts).
import type { Bitfield } from "../pieces/bitfield.ts";
import type { ArrivingPiece } from "./arriving.ts";

/** One file this client serves pieces of. */
export interface Served {
  group: string;
  name: string;
  path: string;
  sizeBytes: number;
  /** The verified pieces: all of them for a shared file, a growing set while downloading. */
  have: Bitfield;
  /**
   * Shared from here with `upload_file` (or re-shared at login), not downloaded: this copy may
   * be the swarm's only one, so it super-seeds (lib/peer/super_seed.ts).
   */
  origin?: true;
  /** Pieces being received now, each forwarded as it arrives (one copy per piece). */
  arriving?: Map<number, ArrivingPiece>;
  /** Pieces offered before they were whole (`p_soon`): asked for, they are sent once here. */
  soon?: Set<number>;
}

/**
 * `soon`: the piece is arriving (p_soon), not yet verified (p_have). `offered`, with a verified
 * piece: it was in `soon` until now, so every watcher has been offered it (a watcher is told the
 * `soon` pieces when it subscribes, the later ones as they come) and holds it as good as had.
 */
type HaveListener = (index: number, soon: boolean, offered: boolean) => void;
/** `key`: the key the tracker confirmed that peer's session registered (it checked the peer's proof). */
type PeerListener = (peer: string, key: string) => void;

/** The files served, with "have" announcements to the peers watching each. */
export class Catalog {
  #entries = new Map<string, Served>();
  #watchers = new Map<string, Set<HaveListener>>();
  #peerWatchers = new Map<string, Set<PeerListener>>();

  add(entry: Served): void {
    this.#entries.set(key(entry.group, entry.name), entry);
  }

  get(group: string, name: string): Served | undefined {
    return this.#entries.get(key(group, name));
  }

  remove(group: string, name: string): void {
    this.#entries.delete(key(group, name));
  }

  clear(): void {
    this.#entries.clear();
  }

  entries(): Served[] {
    return [...this.#entries.values()];
  }

  /** A piece was verified: record it and tell every peer connected for this file. */
  announce(group: string, name: string, index: number): void {
    const entry = this.get(group, name);
    if (!entry?.have.set(index)) return;
    const offered = entry.soon?.delete(index) ?? false;
    // Another copy still arriving was never checked: what was forwarded of it starts over from ours.
    entry.arriving?.get(index)?.lost();
    for (const listener of this.#watchers.get(key(group, name)) ?? []) listener(index, false, offered);
  }

  /**
   * A piece began to arrive: forwarded from here while it does, and offered at once to every
   * peer connected for this file (again when a copy was lost and another one comes: what was
   * asked for meanwhile follows the new one). False when the file holds the piece, or another
   * copy of it is arriving.
   */
  arriving(group: string, name: string, piece: ArrivingPiece): boolean {
    const entry = this.get(group, name);
    const index = piece.index;
    if (!entry || entry.have.has(index) || entry.arriving?.has(index) || piece.state !== "arriving")
      return false;
    entry.arriving ??= new Map();
    const arriving = entry.arriving;
    arriving.set(index, piece);
    piece.listen(() => {
      if (piece.state !== "arriving" && arriving.get(index) === piece) arriving.delete(index);
    });
    entry.soon ??= new Set();
    entry.soon.add(index);
    for (const listener of this.#watchers.get(key(group, name)) ?? []) listener(index, true, false);
    return true;
  }

  /**
   * A proven peer connected to us for this file (a downloader of it), presenting `peerKey`, the
   * key its session registered: tell who listens.
   */
  introduce(group: string, name: string, peer: string, peerKey: string): void {
    for (const listener of this.#peerWatchers.get(key(group, name)) ?? []) listener(peer, peerKey);
  }

  /** Subscribes to introductions of peers of a file; returns the unsubscribe function. */
  watchPeers(group: string, name: string, listener: PeerListener): () => void {
    const k = key(group, name);
    const set = this.#peerWatchers.get(k) ?? new Set<PeerListener>();
    this.#peerWatchers.set(k, set);
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.#peerWatchers.delete(k);
    };
  }

  /** Subscribes to "have" and "soon" announcements; returns the unsubscribe function. */
  watch(group: string, name: string, listener: HaveListener): () => void {
    const k = key(group, name);
    const set = this.#watchers.get(k) ?? new Set();
    this.#watchers.set(k, set);
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.#watchers.delete(k);
    };
  }
}

function key(group: string, name: string): string {
  return `${group}\u0000${name}`;
}
