// spec/unit/identity/key_file.spec.ts: the key file is made once, private, and read back the same.
import { afterEach, describe, expect, test } from "bun:test";
import { generateKeyPairSync } from "node:crypto";
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError } from "../../../lib/errors.ts";
import { keyId } from "../../../lib/identity/fingerprint.ts";
import { loadIdentity } from "../../../lib/identity/key_file.ts";

const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), "p2p-key-"));
  dirs.push(dir);
  return dir;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("loadIdentity", () => {
  test("makes a key with mode 0600 (and its directory) on first use, then reads the same one", async () => {
    const path = join(tempDir(), "new-dir", "identity.key");
    const first = await loadIdentity(path);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readFileSync(path, "utf8")).toStartWith("-----BEGIN PRIVATE KEY-----");
    const again = await loadIdentity(path);
    expect(again.id).toBe(first.id);
    expect(again.cert).toBe(first.cert);
    expect(first.id).toMatch(/^[a-z2-7]{4}(-[a-z2-7]{4}){7}$/);
  });

  test("gives two key files two ids", async () => {
    const dir = tempDir();
    expect((await loadIdentity(join(dir, "a"))).id).not.toBe((await loadIdentity(join(dir, "b"))).id);
  });

  test("refuses a key file others can read, saying to chmod it", async () => {
    const path = join(tempDir(), "k");
    await loadIdentity(path);
    chmodSync(path, 0o644);
    await expect(loadIdentity(path)).rejects.toThrow(ConfigError);
    await expect(loadIdentity(path)).rejects.toThrow(`run chmod 600 ${path}`);
  });

  test("refuses a file that holds no key, or a key that is not Ed25519, leaving it as it was", async () => {
    const path = join(tempDir(), "k");
    writeFileSync(path, "not a key", { mode: 0o600 });
    await expect(loadIdentity(path)).rejects.toThrow(/holds no private key/);
    expect(readFileSync(path, "utf8")).toBe("not a key");
    const rsa = generateKeyPairSync("rsa", { modulusLength: 1024 }).privateKey.export({
      format: "pem",
      type: "pkcs8",
    });
    writeFileSync(path, rsa, { mode: 0o600 });
    await expect(loadIdentity(path)).rejects.toThrow(/holds no Ed25519 private key/);
    expect(readFileSync(path, "utf8")).toBe(rsa.toString());
  });

  test("reads a key written by node:crypto (as earlier builds did) to the same id", async () => {
    const { privateKey, publicKey } = generateKeyPairSync("ed25519");
    const path = join(tempDir(), "k");
    writeFileSync(path, privateKey.export({ format: "pem", type: "pkcs8" }), { mode: 0o600 });
    const spki = new Uint8Array(publicKey.export({ format: "der", type: "spki" }));
    expect((await loadIdentity(path)).id).toBe(keyId(spki));
  });
});
