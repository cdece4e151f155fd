// Shell: this program's key pair, read from its key file or made there on first start (mode
// 0600, never printed or sent), and the self-signed certificate TLS presents for it. WebCrypto
// only: node:crypto would cost a client ~5 MiB of memory for what four calls do here.
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  writeSync,
} from "node:fs";
import { dirname } from "node:path";
import { ConfigError } from "../errors.ts";
import { ed25519Spki, pem, signedCertificate, tbsCertificate, unpem } from "./der.ts";
import { keyId } from "./fingerprint.ts";

/** What TLS presents, and the id others pin. */
export interface TlsIdentity {
  id: string;
  /** PEM, PKCS#8. */
  key: string;
  /** PEM, self-signed. */
  cert: string;
}

/** The key file inside a data dir, when no --key-file is given. */
export const DEFAULT_KEY_FILE = "identity.key";

const ED25519 = { name: "Ed25519" };

/** Reads the Ed25519 key at `path`, or makes one there if there is none. */
export async function loadIdentity(path: string): Promise<TlsIdentity> {
  return identityOf(existsSync(path) ? readKey(path) : await makeKey(path), path);
}

/** The id and certificate of a PKCS#8 Ed25519 private key (`path` names where it came from, in errors). */
export async function identityOf(pkcs8: Uint8Array, path = "the key"): Promise<TlsIdentity> {
  let key: CryptoKey;
  try {
    key = await crypto.subtle.importKey("pkcs8", new Uint8Array(pkcs8), ED25519, true, ["sign"]);
  } catch {
    throw new ConfigError(`key file ${path} holds no Ed25519 private key: move it aside to make a new one`);
  }
  // The JWK of an OKP private key carries its public half (x): SubjectPublicKeyInfo from it.
  const { x } = await crypto.subtle.exportKey("jwk", key);
  if (x === undefined) throw new ConfigError(`key file ${path} holds no Ed25519 public key: move it aside`);
  const spki = ed25519Spki(new Uint8Array(Buffer.from(x, "base64url")));
  const tbs = tbsCertificate(spki);
  const signature = new Uint8Array(await crypto.subtle.sign(ED25519, key, new Uint8Array(tbs)));
  return {
    id: keyId(spki),
    key: pem("PRIVATE KEY", pkcs8),
    cert: pem("CERTIFICATE", signedCertificate(tbs, signature)),
  };
}

function readKey(path: string): Uint8Array {
  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o077) !== 0)
    throw new ConfigError(
      `key file ${path} can be read by others (mode ${mode.toString(8)}): run chmod 600 ${path}`,
    );
  const der = unpem("PRIVATE KEY", readFileSync(path, "utf8"));
  if (der === undefined)
    throw new ConfigError(
      `key file ${path} holds no private key we can read: move it aside to make a new one`,
    );
  return der;
}

/** A fresh Ed25519 private key, PKCS#8 DER. */
export async function newKey(): Promise<Uint8Array> {
  const pair = await crypto.subtle.generateKey(ED25519, true, ["sign", "verify"]);
  if (!("privateKey" in pair)) throw new Error("Ed25519 generateKey returned no key pair");
  return new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey));
}

/** Writes a fresh key under a temporary name with mode 0600, then renames it into place. */
async function makeKey(path: string): Promise<Uint8Array> {
  mkdirSync(dirname(path), { recursive: true });
  const pkcs8 = await newKey();
  const temp = `${path}.${process.pid}.tmp`;
  const fd = openSync(temp, "wx", 0o600);
  try {
    writeSync(fd, pem("PRIVATE KEY", pkcs8));
  } finally {
    closeSync(fd);
  }
  renameSync(temp, path);
  return pkcs8;
}
