// Counts open connections per remote address, so one address cannot take them all. Pure.

/** Admits connections from one address up to a cap. */
export class AddressLimit {
  readonly maxPerAddress: number;
  #open = new Map<string, number>();

  constructor(maxPerAddress: number) {
    this.maxPerAddress = maxPerAddress;
  }

  /** Counts a new connection from `address`; false (and not counted) when it is at the cap. */
  admit(address: string): boolean {
    const open = this.#open.get(address) ?? 0;
    if (open >= this.maxPerAddress) return false;
    this.#open.set(address, open + 1);
    return true;
  }

  /** An admitted connection from `address` closed. */
  release(address: string): void {
    const open = (this.#open.get(address) ?? 0) - 1;
    if (open > 0) this.#open.set(address, open);
    else this.#open.delete(address);
  }
}
