// A man in the middle: listens on a port with TLS under its own key and, for each victim that
// completes a handshake with it, opens a TLS connection of its own to the real target and
// relays the decrypted bytes both ways, counting what victims told it.
//
//   const mitm = await startMitm({ port, target: cluster.slots[0]! });
//   ... a client whose tracker_info.txt names mitm.address ...
//   expect(mitm.bytesFromVictims).toBe(0);    // refused in the handshake: it read nothing
//   await mitm.stop();
//
// Test helper (never a spec file).
import type { Socket, TCPSocketListener } from "bun";
import type { TlsIdentity } from "../../lib/identity/key_file.ts";
import { connectTls, listenTls } from "../../lib/wire/tls.ts";
import { freshIdentity } from "./identity.ts";

const HOST = "127.0.0.1";

interface Pipe {
  other: Socket<Pipe> | undefined;
  early: Uint8Array[];
}

export interface Mitm {
  address: string;
  identity: TlsIdentity;
  /** Connections victims opened to it. */
  connections: number;
  /** Application bytes victims sent it (what it could read). */
  bytesFromVictims: number;
  stop(): Promise<void>;
}

export async function startMitm(options: {
  port: number;
  target: { host: string; port: number };
}): Promise<Mitm> {
  const identity = await freshIdentity();
  const mitm: Mitm = {
    address: `${HOST}:${options.port}`,
    identity,
    connections: 0,
    bytesFromVictims: 0,
    stop: async () => listener.stop(true),
  };
  const listener: TCPSocketListener<Pipe> = Bun.listen<Pipe>({
    hostname: HOST,
    port: options.port,
    tls: listenTls(identity),
    socket: {
      binaryType: "uint8array",
      open(victim) {
        mitm.connections++;
        victim.data = { other: undefined, early: [] };
      },
      handshake(victim) {
        void Bun.connect<Pipe>({
          hostname: options.target.host,
          port: options.target.port,
          tls: connectTls(identity),
          data: { other: victim, early: [] },
          socket: {
            binaryType: "uint8array",
            handshake(upstream) {
              victim.data.other = upstream;
              for (const chunk of victim.data.early.splice(0)) upstream.write(chunk);
            },
            data: (_upstream, chunk) => void victim.write(chunk),
            close: () => void victim.end(),
            error: () => void victim.end(),
          },
        }).catch(() => victim.end());
      },
      data(victim, chunk) {
        mitm.bytesFromVictims += chunk.byteLength;
        if (victim.data.other) victim.data.other.write(chunk);
        else victim.data.early.push(chunk);
      },
      close: (victim) => void victim.data?.other?.end(),
      error: (victim) => void victim.data?.other?.end(),
    },
  });
  return mitm;
}
