// Shell: this program's key pair, read from its key file or made there on first start (mode
// 0600, never printed or sent), and the self-signed certificate TLS presents for it.
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, sign } from "node:crypto";
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
import { pem, selfSignedCertificate } from "./der.ts";
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

/** Reads the Ed25519 key at `path`, or makes one there if there is none. */
export function loadIdentity(path: string): TlsIdentity {
  return identityOf(existsSync(path) ? readKey(path) : makeKey(path), path);
}

/** The id and certificate of a private key (`path` names where it came from, in errors). */
export function identityOf(key: KeyObject, path = "the key"): TlsIdentity {
  const publicKey = createPublicKey(key);
  if (publicKey.asymmetricKeyType !== "ed25519")
    throw new ConfigError(
      `key file ${path} holds a ${publicKey.asymmetricKeyType} key, not Ed25519: move it aside`,
    );
  const spki = new Uint8Array(publicKey.export({ format: "der", type: "spki" }));
  const cert = selfSignedCertificate(spki, (tbs) => new Uint8Array(sign(null, tbs, key)));
  return { id: keyId(spki), key: pemOf(key), cert: pem("CERTIFICATE", cert) };
}

function pemOf(key: KeyObject): string {
  return key.export({ format: "pem", type: "pkcs8" }).toString();
}

function readKey(path: string): KeyObject {
  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o077) !== 0)
    throw new ConfigError(
      `key file ${path} can be read by others (mode ${mode.toString(8)}): run chmod 600 ${path}`,
    );
  try {
    return createPrivateKey(readFileSync(path));
  } catch {
    throw new ConfigError(
      `key file ${path} holds no private key we can read: move it aside to make a new one`,
    );
  }
}

/** Writes a fresh key under a temporary name with mode 0600, then renames it into place. */
function makeKey(path: string): KeyObject {
  mkdirSync(dirname(path), { recursive: true });
  const { privateKey } = generateKeyPairSync("ed25519");
  const temp = `${path}.${process.pid}.tmp`;
  const fd = openSync(temp, "wx", 0o600);
  try {
    writeSync(fd, pemOf(privateKey));
  } finally {
    closeSync(fd);
  }
  renameSync(temp, path);
  return privateKey;
}
