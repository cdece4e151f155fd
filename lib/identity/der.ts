// A minimal DER writer and the one certificate template we need: a self-signed Ed25519 X.509 v3
// certificate around a key, and PEM armour. Pure: the caller signs.

/** Length octets: short form below 128, long form above (X.690 8.1.3). */
function lengthOctets(length: number): number[] {
  if (length < 0x80) return [length];
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n % 256);
  return [0x80 | bytes.length, ...bytes];
}

/** One tag-length-value element around `body`. */
export function tlv(tag: number, body: Uint8Array): Uint8Array {
  const head = [tag, ...lengthOctets(body.byteLength)];
  const out = new Uint8Array(head.length + body.byteLength);
  out.set(head);
  out.set(body, head.length);
  return out;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

export const sequence = (...items: Uint8Array[]): Uint8Array => tlv(0x30, concat(items));

const ascii = (text: string): Uint8Array => new TextEncoder().encode(text);

/** id-Ed25519 (RFC 8410): 1.3.101.112, no parameters. */
const ED25519 = sequence(tlv(0x06, new Uint8Array([0x2b, 0x65, 0x70])));
/** CN=p2p-groups: names are not what we trust (the pin is on the key), but X.509 needs one. */
const NAME = sequence(
  tlv(0x31, sequence(tlv(0x06, new Uint8Array([0x55, 0x04, 0x03])), tlv(0x0c, ascii("p2p-groups")))),
);
/** Fixed validity, 2000 to 9999-12-31 (RFC 5280 4.1.2.5's "no well-defined expiration"): the same key always gives the same certificate. */
const VALIDITY = sequence(tlv(0x17, ascii("000101000000Z")), tlv(0x18, ascii("99991231235959Z")));

/** The to-be-signed part of a self-signed certificate for the Ed25519 key whose SubjectPublicKeyInfo is `spki`. */
export function tbsCertificate(spki: Uint8Array): Uint8Array {
  const version = tlv(0xa0, tlv(0x02, new Uint8Array([2]))); // [0] EXPLICIT v3
  const serial = tlv(0x02, new Uint8Array([1]));
  return sequence(version, serial, ED25519, NAME, VALIDITY, NAME, spki);
}

/** The certificate: `tbs` and its Ed25519 signature by the key it names (deterministic, so one key has one certificate). */
export function signedCertificate(tbs: Uint8Array, signature: Uint8Array): Uint8Array {
  return sequence(tbs, ED25519, tlv(0x03, concat([new Uint8Array([0]), signature]))); // BIT STRING, 0 unused bits
}

/** The SubjectPublicKeyInfo of a raw 32-byte Ed25519 public key (RFC 8410). */
export function ed25519Spki(publicKey: Uint8Array): Uint8Array {
  return sequence(ED25519, tlv(0x03, concat([new Uint8Array([0]), publicKey])));
}

/** The DER inside PEM armour with `label`; undefined if there is none. */
export function unpem(label: string, text: string): Uint8Array | undefined {
  const m = new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]+)-----END ${label}-----`).exec(text);
  return m?.[1] === undefined ? undefined : new Uint8Array(Buffer.from(m[1].replace(/\s+/g, ""), "base64"));
}

/** PEM armour around DER bytes. */
export function pem(label: string, der: Uint8Array): string {
  const base64 = Buffer.from(der).toString("base64");
  const lines: string[] = [];
  for (let i = 0; i < base64.length; i += 64) lines.push(base64.slice(i, i + 64));
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}
