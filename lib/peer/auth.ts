// How a downloader proves to a seeder that it holds a live session, without revealing it.

/** The session id for a client's secret token: only its hash is replicated or stored. */
export function sessionId(token: Uint8Array): string {
  return new Bun.CryptoHasher("sha256").update(token).digest("hex");
}

/**
 * What a downloader shows a seeder at `seederPeer`: HMAC-SHA256 keyed by the downloader's
 * session id, over the seeder's address, the seeder's fresh nonce and the TLS connection's
 * channel binding (its exporter, known only to the two ends of that one connection). Relayed
 * to another connection or replayed, it fails; only a tracker (which knows session ids) can
 * check it.
 */
export function peerProof(
  session: string,
  seederPeer: string,
  channel: { nonce: Uint8Array; binding: Uint8Array },
): Uint8Array {
  const hmac = new Bun.CryptoHasher("sha256", session);
  hmac.update(seederPeer);
  hmac.update("|");
  hmac.update(channel.nonce);
  hmac.update("|");
  hmac.update(channel.binding);
  return hmac.digest();
}
