// Shell: the tracker's listener. A connection whose first message is a sync hello is a
// tracker (handed to Sync); any other is a client whose requests go to handleRequest.
import type { Socket, TCPSocketListener } from "bun";
import { AddressLimit } from "../wire/address_limit.ts";
import { Connection, connectionHandlers } from "../wire/connection.ts";
import { type Fields, readEnvelope } from "../wire/fields.ts";
import {
  MAX_CONNECTIONS_PER_ADDRESS,
  MAX_FRAME_BYTES,
  MAX_PENDING_REQUESTS,
  MAX_UNAUTHENTICATED_FRAME_BYTES,
} from "../wire/limits.ts";
import { parseRequest, partMessage, replyMessage } from "../wire/tracker_protocol.ts";
import { type ClientState, handleRequest, type TrackerCore } from "./client_api.ts";
import type { Sync } from "./sync.ts";

type Role = "new" | "client" | "sync";

/** Starts listening; `clients` holds the client connections open now. */
export function listen(options: {
  host: string;
  port: number;
  core: TrackerCore;
  sync: Sync;
  log: (line: string) => void;
}): { listener: TCPSocketListener<Connection>; clients: ReadonlySet<Connection> } {
  const { core, sync, log } = options;
  const clients = new Set<Connection>();
  const perAddress = new AddressLimit(MAX_CONNECTIONS_PER_ADDRESS);
  const handler = {
    message(conn: Connection, value: unknown): void {
      const role = (conn.state.role as Role | undefined) ?? "new";
      if (role === "sync") return sync.inboundMessage(conn, value);
      if (role === "new") {
        const first = readEnvelope(value);
        if (first.t.startsWith("sync_")) {
          conn.state.role = "sync";
          return sync.acceptInbound(conn, value);
        }
        conn.state.role = "client";
        conn.state.client = { address: conn.remoteAddress } satisfies ClientState;
        conn.state.pending = 0;
        clients.add(conn);
      }
      const req = parseRequest(value);
      if ((conn.state.pending as number) >= MAX_PENDING_REQUESTS) {
        const reason = `more than ${MAX_PENDING_REQUESTS} requests in flight on one connection: wait for replies`;
        conn.send(replyMessage({ id: req.id, ok: false, reason }));
        return;
      }
      conn.state.pending = (conn.state.pending as number) + 1;
      const sendPart = (items: Fields[]): Promise<void> => {
        if (conn.isClosed) return Promise.reject(new Error("connection closed mid-listing"));
        return conn.send(partMessage({ id: req.id, items })) ? Promise.resolve() : conn.drained();
      };
      handleRequest(core, conn.state.client as ClientState, req, sendPart)
        .then((reply) => {
          if ((conn.state.client as ClientState).session !== undefined) conn.maxFrameBytes = MAX_FRAME_BYTES; // shares carry piece hashes
          conn.send(replyMessage(reply));
        })
        .catch((err) => {
          if (conn.isClosed) return; // a listing's reader went away
          log(`error: request ${req.t} from ${conn.remote} failed: ${(err as Error).stack ?? err}`);
          conn.send(replyMessage({ id: req.id, ok: false, reason: "internal tracker error: try again" }));
        })
        .finally(() => {
          conn.state.pending = (conn.state.pending as number) - 1;
        });
    },
    close(conn: Connection): void {
      if (conn.state.admitted) perAddress.release(conn.remoteAddress);
      clients.delete(conn);
      if (conn.state.role === "sync") sync.inboundClosed(conn);
    },
  };
  const listener = Bun.listen<Connection>({
    hostname: options.host,
    port: options.port,
    socket: connectionHandlers((socket: Socket<Connection>) => {
      const conn = new Connection(socket, handler, { log, maxFrameBytes: MAX_UNAUTHENTICATED_FRAME_BYTES });
      if (perAddress.admit(conn.remoteAddress)) conn.state.admitted = true;
      else {
        const reason = `too many connections from ${conn.remoteAddress} (${MAX_CONNECTIONS_PER_ADDRESS}): close some and retry`;
        conn.send(replyMessage({ id: 0, ok: false, reason }));
        conn.end();
      }
    }),
  });
  return { listener, clients };
}
