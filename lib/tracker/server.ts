// Shell: the tracker's listener. A connection whose first message is a sync hello is a
// tracker (handed to Sync); any other is a client whose requests go to handleRequest.
import type { Socket, TCPSocketListener } from "bun";
import { stackOf } from "../errors.ts";
import type { TlsIdentity } from "../identity/key_file.ts";
import { AddressLimit } from "../wire/address_limit.ts";
import { Connection } from "../wire/connection.ts";
import { readEnvelope } from "../wire/fields.ts";
import {
  MAX_CONNECTIONS_PER_ADDRESS,
  MAX_FRAME_BYTES,
  MAX_HANDSHAKES_PER_ADDRESS,
  MAX_PENDING_REQUESTS,
  MAX_UNAUTHENTICATED_FRAME_BYTES,
} from "../wire/limits.ts";
import { listenTls, type PeerKey, secureHandlers } from "../wire/tls.ts";
import { CLIENT_MESSAGE_BOUNDS, parseRequest, partMessage, replyMessage } from "../wire/tracker_protocol.ts";
import { type ClientState, handleRequest, type SendPart, type TrackerCore } from "./client_api.ts";
import type { Sync, SyncPeer } from "./sync.ts";

/** What an inbound connection is, once its first message has said. */
type Role =
  | { is: "new" }
  | { is: "client"; client: ClientState; pending: number }
  | { is: "sync"; peer: SyncPeer };

interface InboundState {
  /** Counted against its address's connection limit (released on close). */
  admitted: boolean;
  role: Role;
  /** The key it presented in the TLS handshake. */
  peer: PeerKey;
}

type Inbound = Connection<InboundState>;

/** Starts listening; `clients` holds the client connections open now. */
export function listen(options: {
  host: string;
  port: number;
  core: TrackerCore;
  sync: Sync;
  identity: TlsIdentity;
  log: (line: string) => void;
}): { listener: TCPSocketListener<Inbound>; clients: ReadonlySet<Inbound> } {
  const { core, sync, log } = options;
  const clients = new Set<Inbound>();
  const perAddress = new AddressLimit(MAX_CONNECTIONS_PER_ADDRESS);
  const handshakes = new AddressLimit(MAX_HANDSHAKES_PER_ADDRESS);
  const handler = {
    message(conn: Inbound, value: unknown): void {
      let role = conn.state.role;
      if (role.is === "sync") {
        sync.inboundMessage(conn, role.peer, value);
        return;
      }
      if (role.is === "new") {
        const first = readEnvelope(value);
        if (first.t.startsWith("sync_")) {
          conn.state.role = { is: "sync", peer: sync.acceptInbound(conn, conn.state.peer.id, value) };
          return;
        }
        role = {
          is: "client",
          client: { address: conn.remoteAddress, key: conn.state.peer.id },
          pending: 0,
        };
        conn.state.role = role;
        clients.add(conn);
      }
      const req = parseRequest(value);
      if (role.pending >= MAX_PENDING_REQUESTS) {
        const reason = `more than ${MAX_PENDING_REQUESTS} requests in flight on one connection: wait for replies`;
        conn.send(replyMessage({ id: req.id, ok: false, reason }));
        return;
      }
      role.pending++;
      const { client } = role;
      const sendPart: SendPart = (items) => {
        if (conn.isClosed) return Promise.reject(new Error("connection closed mid-listing"));
        return conn.send(partMessage({ id: req.id, items })) ? Promise.resolve() : conn.drained();
      };
      handleRequest(core, client, req, sendPart)
        .then((reply) => {
          if (client.session !== undefined) {
            // A proven client: a share's piece hashes come in parts, checked against their own bound.
            conn.maxFrameBytes = MAX_FRAME_BYTES;
            conn.messageBounds = CLIENT_MESSAGE_BOUNDS;
          }
          conn.send(replyMessage(reply));
        })
        .catch((err) => {
          if (conn.isClosed) return; // a listing's reader went away
          log(`error: request ${req.t} from ${conn.remote} failed: ${stackOf(err)}`);
          conn.send(replyMessage({ id: req.id, ok: false, reason: "internal tracker error: try again" }));
        })
        .finally(() => {
          role.pending--;
        });
    },
    close(conn: Inbound): void {
      if (conn.state.admitted) perAddress.release(conn.remoteAddress);
      clients.delete(conn);
      if (conn.state.role.is === "sync") sync.inboundClosed(conn);
    },
  };
  const listener = Bun.listen<Inbound>({
    hostname: options.host,
    port: options.port,
    tls: listenTls(options.identity),
    socket: secureHandlers(
      (socket: Socket<Inbound>, peer: PeerKey) => {
        const state: InboundState = { admitted: false, role: { is: "new" }, peer };
        const conn = new Connection(socket, handler, state, {
          log,
          maxFrameBytes: MAX_UNAUTHENTICATED_FRAME_BYTES,
        });
        if (perAddress.admit(conn.remoteAddress)) state.admitted = true;
        else {
          const reason = `too many connections from ${conn.remoteAddress} (${MAX_CONNECTIONS_PER_ADDRESS}): close some and retry`;
          conn.send(replyMessage({ id: 0, ok: false, reason }));
          conn.end();
        }
      },
      { pending: handshakes },
    ),
  });
  return { listener, clients };
}
