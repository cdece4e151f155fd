// A TCP relay on loopback in front of a tracker, which a test can make lose replies or cut.
import type { Socket, TCPSocketListener } from "bun";
import { track, untrack } from "./processes.ts";
import { HOST } from "./wait.ts";

interface Pipe {
  client: Socket<PipeEnd>;
  upstream?: Socket<PipeEnd>;
  /** client bytes that arrived before the upstream connection was open */
  early: Uint8Array[];
}

interface PipeEnd {
  pipe?: Pipe;
  queue: Uint8Array[];
}

/**
 * A TCP relay on 127.0.0.1 in front of one tracker: list its `address` in a client's
 * tracker_info.txt copy to put it between that client and the tracker. `dropReplies()` makes
 * it swallow everything the tracker sends from then on (requests still get through);
 * `cut()` closes every relayed connection, as if the tracker had died.
 */
export class Relay {
  readonly port: number;
  #listener: TCPSocketListener<PipeEnd>;
  #pipes = new Set<Pipe>();
  #dropping = false;

  constructor(target: { host: string; port: number }) {
    this.#listener = Bun.listen<PipeEnd>({
      hostname: HOST,
      port: 0,
      socket: {
        open: (client) => {
          const pipe: Pipe = { client, early: [] };
          client.data = { pipe, queue: [] };
          this.#pipes.add(pipe);
          Bun.connect<PipeEnd>({
            hostname: target.host,
            port: target.port,
            socket: {
              open: (upstream) => {
                upstream.data = { pipe, queue: [] };
                pipe.upstream = upstream;
                for (const chunk of pipe.early.splice(0)) relayWrite(upstream, chunk);
              },
              data: (_upstream, chunk) => {
                if (!this.#dropping) relayWrite(pipe.client, chunk);
              },
              drain: flushRelay,
              close: () => this.#close(pipe),
              error: () => this.#close(pipe),
            },
          }).catch(() => this.#close(pipe));
        },
        data: (client, chunk) => {
          const pipe = client.data.pipe!;
          if (pipe.upstream) relayWrite(pipe.upstream, chunk);
          else pipe.early.push(new Uint8Array(chunk));
        },
        drain: flushRelay,
        close: (client) => this.#close(client.data.pipe!),
        error: (client) => this.#close(client.data.pipe!),
      },
    });
    this.port = this.#listener.port;
    track(this);
  }

  /** `127.0.0.1:<port>`, for a tracker_info.txt line. */
  get address(): string {
    return `${HOST}:${this.port}`;
  }

  /** From now on, swallows every byte the tracker sends to its clients. */
  dropReplies(): void {
    this.#dropping = true;
  }

  /** Closes every relayed connection (new ones are still accepted and relayed). */
  cut(): void {
    for (const pipe of [...this.#pipes]) this.#close(pipe);
    this.#dropping = false;
  }

  /** Stops listening and closes everything (stopAll()). */
  async stop(): Promise<void> {
    this.cut();
    this.#listener.stop(true);
    untrack(this);
  }

  #close(pipe: Pipe): void {
    if (!this.#pipes.delete(pipe)) return;
    pipe.client.end();
    pipe.upstream?.end();
  }
}

/** Starts a Relay in front of `target` (a tracker's slot or any host and port). */
export function startRelay(target: { host: string; port: number }): Relay {
  return new Relay(target);
}

/** A relayed socket's data: the bytes it has not taken yet, in order. */
export interface QueuedWrites {
  queue: Uint8Array[];
}

/** Writes all of `chunk`, queueing what the socket does not take now (STYLE §5: write() may be partial). */
export function relayWrite(socket: Socket<QueuedWrites>, chunk: Uint8Array): void {
  const queue = socket.data.queue;
  if (queue.length > 0) {
    queue.push(new Uint8Array(chunk));
    return;
  }
  const written = socket.write(chunk);
  if (written >= 0 && written < chunk.byteLength) queue.push(new Uint8Array(chunk.subarray(written)));
}

/** Socket event: the kernel took what we gave; write what is queued. */
export function flushRelay(socket: Socket<QueuedWrites>): void {
  const queue = socket.data.queue;
  for (let chunk = queue[0]; chunk !== undefined; chunk = queue[0]) {
    const written = socket.write(chunk);
    if (written < 0) return;
    if (written < chunk.byteLength) {
      queue[0] = chunk.subarray(written);
      return;
    }
    queue.shift();
  }
}
