// A key's id: a short printable fingerprint of its public key, and the parsing of ids people type. Pure.
const ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"; // RFC 4648 base32, lower case
/** 160 bits of SHA-256: as many as an SSH or Git SHA-1 fingerprint, in 32 characters. */
const ID_BYTES = 20;
const GROUP_CHARS = 4;
export const ID_CHARS = (ID_BYTES * 8) / 5;

function base32(bytes: Uint8Array): string {
  let out = "";
  let bits = 0;
  let value = 0;
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31];
  return out;
}

/** The id of the key whose DER SubjectPublicKeyInfo is `spki`: groups of 4 base32 characters joined by "-". */
export function keyId(spki: Uint8Array): string {
  // Bun.CryptoHasher, not node:crypto: loading that module costs a client ~5 MiB of memory.
  const digest = new Bun.CryptoHasher("sha256").update(spki).digest().subarray(0, ID_BYTES);
  const chars = base32(digest);
  const groups: string[] = [];
  for (let i = 0; i < chars.length; i += GROUP_CHARS) groups.push(chars.slice(i, i + GROUP_CHARS));
  return groups.join("-");
}

/** An id as typed (any case, with or without dashes) in its canonical form; undefined if it is not one. */
export function parseKeyId(text: string): string | undefined {
  const chars = text.toLowerCase().replaceAll("-", "");
  if (chars.length !== ID_CHARS || ![...chars].every((c) => ALPHABET.includes(c))) return undefined;
  const groups: string[] = [];
  for (let i = 0; i < chars.length; i += GROUP_CHARS) groups.push(chars.slice(i, i + GROUP_CHARS));
  return groups.join("-");
}
