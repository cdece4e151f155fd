// TCP relays on 127.0.0.1 that cut every connection they carry once, after a given number of
// bytes: a transfer between trackers broken halfway, at the same point whatever the timing.
import type { Socket, TCPSocketListener } from "bun";
import { flushRelay, relayWrite } from "./relay.ts";

interface End {
  other?: Socket<End>;
  queue: Uint8Array[];
}

/** Relays to several targets that share one byte budget; `relay()` adds one. */
export class CuttingRelays {
  #listeners: TCPSocketListener<End>[] = [];
  #sockets = new Set<Socket<End>>();
  #bytes = 0;
  #cutAfter: number;
  /** How many times the relays have cut their connections. */
  cuts = 0;
  #holding = false;
  #held: [Socket<End>, Uint8Array][] = [];

  /** Cuts once the relays together have carried `cutAfterBytes` (either direction; never by default). */
  constructor(cutAfterBytes = Number.POSITIVE_INFINITY) {
    this.#cutAfter = cutAfterBytes;
  }

  /** A relay to `target`; returns the port it listens on. */
  relay(target: { host: string; port: number }): number {
    const listener = Bun.listen<End>({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        open: (client) => {
          client.data = { queue: [] };
          this.#sockets.add(client);
          client.pause();
          Bun.connect<End>({
            hostname: target.host,
            port: target.port,
            socket: {
              open: (upstream) => {
                upstream.data = { other: client, queue: [] };
                client.data.other = upstream;
                this.#sockets.add(upstream);
                client.resume();
              },
              data: (upstream, chunk) => this.#forward(upstream, chunk),
              drain: (s) => flushRelay(s),
              close: (s) => this.#closePair(s),
              error: (s) => this.#closePair(s),
            },
          }).catch(() => client.end());
        },
        data: (client, chunk) => this.#forward(client, chunk),
        drain: (s) => flushRelay(s),
        close: (s) => this.#closePair(s),
        error: (s) => this.#closePair(s),
      },
    });
    this.#listeners.push(listener);
    return listener.port;
  }

  /** Bytes carried so far. */
  get bytes(): number {
    return this.#bytes;
  }

  /** From now on, keeps every byte instead of passing it on (the connections stay open). */
  hold(): void {
    this.#holding = true;
  }

  /** Passes on what was held, and everything from now on. */
  release(): void {
    this.#holding = false;
    for (const [to, chunk] of this.#held.splice(0)) relayWrite(to, chunk);
  }

  stop(): void {
    for (const s of [...this.#sockets]) s.end();
    for (const l of this.#listeners) l.stop(true);
  }

  #forward(from: Socket<End>, chunk: Uint8Array): void {
    const to = from.data.other;
    if (!to) return;
    if (this.#holding) {
      this.#held.push([to, new Uint8Array(chunk)]);
      return;
    }
    this.#bytes += chunk.byteLength;
    relayWrite(to, chunk);
    if (this.#bytes >= this.#cutAfter) {
      this.#cutAfter = Number.POSITIVE_INFINITY;
      this.cuts++;
      for (const s of [...this.#sockets]) s.terminate();
    }
  }

  #closePair(s: Socket<End>): void {
    this.#sockets.delete(s);
    const other = s.data?.other;
    if (other && this.#sockets.delete(other)) other.end();
  }
}
