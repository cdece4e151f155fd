// Key pairs for test peers that speak the protocols from the test process (raw sockets, hand-made
// sessions and seeders, men in the middle). Test helper (never a spec file).
import { generateKeyPairSync } from "node:crypto";
import { identityOf, type TlsIdentity } from "../../lib/identity/key_file.ts";

/** A new key pair, never written anywhere. */
export function freshIdentity(): TlsIdentity {
  return identityOf(generateKeyPairSync("ed25519").privateKey);
}

/** The key every test peer presents unless told otherwise: logins and peer hellos then agree. */
export const TEST_IDENTITY = freshIdentity();
