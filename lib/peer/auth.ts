// How a downloader proves to a seeder that it holds a live session, without revealing it.

/** The session id for a client's secret token: only its hash is replicated or stored. */
export function sessionId(token: Uint8Array): string {
  return new Bun.CryptoHasher("sha256").update(token).digest("hex");
}

/**
 * What a downloader shows a seeder at `seederPeer`: HMAC-SHA256 keyed by the downloader's
 * session id, over the seeder's address and the seeder's fresh nonce. Bound to one seeder and
 * one nonce, it is useless to replay; only a tracker (which knows session ids) can check it.
 */
export function peerProof(session: string, seederPeer: string, nonce: Uint8Array): Uint8Array {
  const hmac = new Bun.CryptoHasher("sha256", session);
  hmac.update(seederPeer);
  hmac.update("|");
  hmac.update(nonce);
  return hmac.digest();
}
