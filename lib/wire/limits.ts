// Every byte, count and time limit of the wire protocol, each with its reason.

/**
 * Largest frame body: a defence, never a bound on what a message holds. The biggest frames sent
 * are 2 MiB (WHOLE_MESSAGE_BYTES in parts.ts: a listing part, a base part, a batch of
 * operations, a part of a larger message such as a share with its piece hashes) and pieces.
 */
export const MAX_FRAME_BYTES = 8 * 1024 * 1024;

/**
 * Largest frame before a peer has authenticated (a login, a sync proof, a piece request): a
 * stranger cannot make us hold megabytes per connection.
 */
export const MAX_UNAUTHENTICATED_FRAME_BYTES = 64 * 1024;

/** Bytes a connection may queue unsent before we judge the peer too slow and close it. */
export const MAX_QUEUED_BYTES = 32 * 1024 * 1024;

/**
 * Messages in parts (see parts.ts) a connection may have queued unsent before we judge the peer
 * too slow and close it: one is being sent, the others wait unencoded. As many as the requests
 * a client may have outstanding, so that a client reading normally never meets it.
 */
export const MAX_QUEUED_MESSAGES = 64;

/** A connection that completes no frame for this long is closed (slow senders, dead peers). */
export const IDLE_TIMEOUT_S = 30;

/** Open connections from one IP address to a tracker or a peer: a lab of clients behind one NAT fits. */
export const MAX_CONNECTIONS_PER_ADDRESS = 1024;

/**
 * TLS handshakes in progress from one IP address, not yet counted by MAX_CONNECTIONS_PER_ADDRESS
 * (admission follows the handshake): a flood of idle or truncated handshakes costs bounded
 * memory until HANDSHAKE_TIMEOUT_S ends them. As many as the connections one address may hold,
 * so that a lab behind one NAT can still open them all at once.
 */
export const MAX_HANDSHAKES_PER_ADDRESS = 1024;

/** Concurrent requests one client connection may have outstanding at a tracker. */
export const MAX_PENDING_REQUESTS = 64;

/** Longest user id, group id or file name, in UTF-8 bytes. */
export const MAX_NAME_BYTES = 255;

/** Longest password accepted, in bytes (bcrypt-style hashing cost grows with it). */
export const MAX_PASSWORD_BYTES = 1024;

/** Operations in one sync frame, so that a batch stays far below MAX_FRAME_BYTES. */
export const MAX_OPS_PER_FRAME = 256;

/** Clients heartbeat their tracker this often while logged in; trackers judge liveness by it. */
export const HEARTBEAT_MS = 2_000;
