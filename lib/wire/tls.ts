// Shell: every link's TLS. Builds the listen/connect options (TLS 1.3 only, both ends present
// their self-signed certificate) and checks the peer's key in the handshake handler, before a
// single application byte: who may connect is decided by pins on keys, never by a CA or names.
import type { Socket, SocketHandler, TLSOptions } from "bun";
import { messageOf } from "../errors.ts";
import { keyId } from "../identity/fingerprint.ts";
import type { TlsIdentity } from "../identity/key_file.ts";
import type { AddressLimit } from "./address_limit.ts";
import { type Connection, connectionHandlers } from "./connection.ts";

/** TLS 1.3's protocol version number, the form Bun's minVersion takes. */
const TLS_1_3 = 0x0304;
/** A connection that has not finished its handshake by then is dropped (idle or dribbling strangers). */
export const HANDSHAKE_TIMEOUT_S = 10;
/** Label of the exporter (RFC 8446 7.5) that binds membership proofs to one connection. */
const BINDING_LABEL = "EXPORTER-p2p-groups-membership";
const BINDING_BYTES = 32;

/** The verified other end of a connection: its key's id, and a secret only the two ends share. */
export interface PeerKey {
  id: string;
  /** The TLS exporter: equal at both ends of this one connection, unknowable to anyone else. */
  binding: Uint8Array;
}

/** Options for Bun.listen: ask every client for its certificate; we verify it ourselves. */
export function listenTls(identity: TlsIdentity): TLSOptions {
  const options = {
    key: identity.key,
    cert: identity.cert,
    // Our own certificate as the only "CA": Bun would otherwise load its whole root store into
    // every context (1.5 MiB of a client's memory) for a check whose verdict we ignore.
    ca: identity.cert,
    requestCert: true,
    // Self-signed certificates never pass a CA check; the pin check in `handshake` decides.
    rejectUnauthorized: false,
    minVersion: TLS_1_3,
  };
  return options;
}

/** Options for Bun.connect: present our certificate; the server's is checked by our pin. */
export function connectTls(identity: TlsIdentity): TLSOptions {
  const options = {
    key: identity.key,
    cert: identity.cert,
    ca: identity.cert, // as in listenTls: no root store
    rejectUnauthorized: false,
    minVersion: TLS_1_3,
  };
  return options;
}

export interface SecureOptions {
  /** Undefined to accept the peer's key id, else the one-line reason to refuse it. */
  check?: ((peerId: string) => string | undefined) | undefined;
  /** The connection ended before it was secured (refused, failed or closed): why. */
  failed?: ((reason: string) => void) | undefined;
  /** Handshakes in progress per remote address (listeners): a flood of strangers costs bounded memory. */
  pending?: AddressLimit | undefined;
  handshakeTimeoutS?: number;
}

/**
 * Socket handlers that call `onSecure` once the handshake is done, the link is TLS 1.3 and the
 * peer's key passes `check`; only then may anything be written (Bun drops writes made in
 * `open`, before the handshake). Any failure ends the socket and nothing else.
 */
export function secureHandlers<S>(
  onSecure: (socket: Socket<Connection<S>>, peer: PeerKey) => void,
  options: SecureOptions = {},
): SocketHandler<Connection<S>> {
  const plain = connectionHandlers<S>(() => {});
  // Sockets still in their handshake, and whether each was counted against `pending`.
  const handshaking = new Map<Socket<Connection<S>>, boolean>();
  const settle = (socket: Socket<Connection<S>>, failure?: string) => {
    const counted = handshaking.get(socket);
    if (counted === undefined) return false;
    handshaking.delete(socket);
    if (counted) options.pending?.release(socket.remoteAddress);
    if (failure !== undefined) {
      options.failed?.(failure);
      socket.terminate();
    }
    return true;
  };
  return {
    ...plain,
    open(socket) {
      const counted = options.pending ? options.pending.admit(socket.remoteAddress) : false;
      handshaking.set(socket, counted);
      if (options.pending && !counted) {
        settle(socket, `too many handshakes in progress from ${socket.remoteAddress}`);
        return;
      }
      socket.timeout(options.handshakeTimeoutS ?? HANDSHAKE_TIMEOUT_S);
    },
    handshake(socket) {
      if (!handshaking.has(socket)) return;
      const verdict = verify(socket, options.check);
      if (typeof verdict === "string") {
        settle(socket, verdict);
        return;
      }
      settle(socket);
      socket.timeout(0); // the handshake's deadline is met; the connection arms its own idle timeout
      onSecure(socket, verdict);
    },
    close(socket) {
      if (!settle(socket, "connection closed during the TLS handshake")) plain.close?.(socket);
    },
    error(socket, error) {
      if (!settle(socket, `TLS handshake failed: ${error.message}`)) plain.error?.(socket, error);
    },
    timeout(socket) {
      if (!settle(socket, "no TLS handshake in time")) plain.timeout?.(socket);
    },
  };
}

/** The TLS exporter both ends of this one connection derive alike (RFC 8446 7.5, RFC 9266). */
export function channelBinding(socket: Socket<unknown>): Uint8Array {
  return new Uint8Array(socket.exportKeyingMaterial(BINDING_BYTES, BINDING_LABEL, Buffer.alloc(0)));
}

/** The peer's verified key, or why the link must not be used. */
function verify(socket: Socket<unknown>, check: SecureOptions["check"]): PeerKey | string {
  try {
    // `success` is false for every self-signed certificate: what we check is the key.
    const version = socket.getTLSVersion();
    if (version !== "TLSv1.3") return `TLS handshake failed: ${version || "no TLS"} instead of TLSv1.3`;
    const cert = socket.getPeerX509Certificate();
    if (!cert) return "peer presented no certificate";
    const key = cert.publicKey;
    if (key.asymmetricKeyType !== "ed25519")
      return `peer presented a ${key.asymmetricKeyType} key, not Ed25519`;
    // The certificate must be signed by its own key: proof that the peer holds it is TLS's
    // CertificateVerify; this only rejects malformed certificates early.
    if (!cert.verify(key)) return "peer's certificate is not signed by its own key";
    const id = keyId(new Uint8Array(key.export({ format: "der", type: "spki" })));
    const refusal = check?.(id);
    if (refusal !== undefined) return refusal;
    return { id, binding: channelBinding(socket) };
  } catch (err) {
    return `TLS handshake failed: ${messageOf(err)}`;
  }
}
