// Key pairs for test peers that speak the protocols from the test process (raw sockets, hand-made
// sessions and seeders, men in the middle). Test helper (never a spec file).
import { identityOf, newKey, type TlsIdentity } from "../../lib/identity/key_file.ts";

/** A new key pair, never written anywhere. */
export async function freshIdentity(): Promise<TlsIdentity> {
  return identityOf(await newKey());
}

/** The key every test peer presents unless told otherwise: logins and peer hellos then agree. */
export const TEST_IDENTITY = await freshIdentity();
