// lib/pieces/rarest_tree.ts: the pieces waiting to be asked for, by availability, as a segment
// tree: the lowest availability among them, how many share it, and the k-th of those in index
// order, each in O(log pieces). The picker's answer for a peer that has every piece, without a
// scan of every piece per pick (quadratic in a file's pieces, and hot enough that the JIT's
// optimizing compilers, several MiB of code, were paged into the client for it).
// Pure: no I/O.

/** The value of a slot that holds no piece (the piece is held or in flight). */
const ABSENT = 0xffff_ffff;

export class RarestTree {
  readonly size: number;
  #leaves: number; // a power of two >= size; leaf of slot i is node #leaves + i
  #min: Uint32Array; // per node: the lowest value below it (ABSENT if none)
  #count: Uint32Array; // per node: how many slots below it hold that value

  /** A tree over `size` slots, all empty. */
  constructor(size: number) {
    if (!Number.isSafeInteger(size) || size < 0)
      throw new RangeError(`Invalid tree size: expected a non-negative integer: got ${size}`);
    this.size = size;
    let leaves = 1;
    while (leaves < size) leaves *= 2;
    this.#leaves = leaves;
    this.#min = new Uint32Array(2 * leaves).fill(ABSENT);
    this.#count = new Uint32Array(2 * leaves);
  }

  /** Slot `index` holds a piece of availability `value` (>= 0), or none when `value` is undefined. */
  set(index: number, value: number | undefined): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.size)
      throw new RangeError(`Invalid slot: expected an integer in 0..${this.size - 1}: got ${index}`);
    if (value !== undefined && (!Number.isInteger(value) || value < 0 || value >= ABSENT))
      throw new RangeError(`Invalid availability: ${value}`);
    let node = this.#leaves + index;
    this.#min[node] = value ?? ABSENT;
    this.#count[node] = value === undefined ? 0 : 1;
    for (node >>= 1; node >= 1; node >>= 1) this.#pull(node);
  }

  /** The lowest availability held, or undefined when no slot holds a piece. */
  min(): number | undefined {
    const min = this.#min[1] ?? ABSENT;
    return min === ABSENT ? undefined : min;
  }

  /** How many slots hold the lowest availability (0 when none holds a piece). */
  countAtMin(): number {
    return this.#count[1] ?? 0;
  }

  /** The index of the k-th (from 0, in index order) slot holding the lowest availability. */
  kthAtMin(k: number): number {
    const count = this.countAtMin();
    if (!Number.isInteger(k) || k < 0 || k >= count)
      throw new RangeError(`Invalid rank: expected an integer in 0..${count - 1}: got ${k}`);
    const target = this.#min[1];
    let left = k;
    let node = 1;
    while (node < this.#leaves) {
      const l = 2 * node;
      const inLeft = this.#min[l] === target ? (this.#count[l] ?? 0) : 0;
      if (left < inLeft) node = l;
      else {
        left -= inLeft;
        node = l + 1;
      }
    }
    return node - this.#leaves;
  }

  #pull(node: number): void {
    const lMin = this.#min[2 * node] ?? ABSENT;
    const rMin = this.#min[2 * node + 1] ?? ABSENT;
    const min = Math.min(lMin, rMin);
    this.#min[node] = min;
    this.#count[node] =
      min === ABSENT
        ? 0
        : (lMin === min ? (this.#count[2 * node] ?? 0) : 0) +
          (rMin === min ? (this.#count[2 * node + 1] ?? 0) : 0);
  }
}
