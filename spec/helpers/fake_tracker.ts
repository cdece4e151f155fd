// An in-process tracker for TrackerLink tests: a TLS listener on 127.0.0.1 with the test
// identity, framing as the real one does, each request handed to the test to answer.
import type { Socket, TCPSocketListener } from "bun";
import { Connection } from "../../lib/wire/connection.ts";
import { readEnvelope, readInt } from "../../lib/wire/fields.ts";
import { listenTls, secureHandlers } from "../../lib/wire/tls.ts";
import { TEST_IDENTITY } from "./identity.ts";

const listeners: TCPSocketListener<Connection>[] = [];

/** Listens; `onRequest` gets each request's envelope and id, and the connection to answer on. Returns the port. */
export function fakeTracker(
  onRequest: (conn: Connection, request: Record<string, unknown>, id: number) => void,
): number {
  const listener = Bun.listen<Connection>({
    hostname: "127.0.0.1",
    port: 0,
    tls: listenTls(TEST_IDENTITY),
    socket: secureHandlers((socket: Socket<Connection>) => {
      new Connection(
        socket,
        {
          message: (conn, value) => {
            const request = readEnvelope(value);
            onRequest(conn, request, readInt(request, "id", 0, 2 ** 32 - 1));
          },
        },
        undefined,
      );
    }),
  });
  listeners.push(listener);
  return listener.port;
}

/** Stops every fake tracker started so far (for afterEach). */
export function stopFakeTrackers(): void {
  for (const listener of listeners.splice(0)) listener.stop(true);
}
