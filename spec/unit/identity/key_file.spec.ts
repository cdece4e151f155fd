// spec/unit/identity/key_file.spec.ts: the key file is made once, private, and read back the same.
import { afterEach, describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError } from "../../../lib/errors.ts";
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
  test("makes a key with mode 0600 (and its directory) on first use, then reads the same one", () => {
    const path = join(tempDir(), "new-dir", "identity.key");
    const first = loadIdentity(path);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readFileSync(path, "utf8")).toStartWith("-----BEGIN PRIVATE KEY-----");
    const again = loadIdentity(path);
    expect(again.id).toBe(first.id);
    expect(again.cert).toBe(first.cert);
    expect(first.id).toMatch(/^[a-z2-7]{4}(-[a-z2-7]{4}){7}$/);
  });

  test("gives two key files two ids", () => {
    const dir = tempDir();
    expect(loadIdentity(join(dir, "a")).id).not.toBe(loadIdentity(join(dir, "b")).id);
  });

  test("refuses a key file others can read, saying to chmod it", () => {
    const path = join(tempDir(), "k");
    loadIdentity(path);
    chmodSync(path, 0o644);
    expect(() => loadIdentity(path)).toThrow(ConfigError);
    expect(() => loadIdentity(path)).toThrow(`run chmod 600 ${path}`);
  });

  test("refuses a file that holds no key, leaving it as it was", () => {
    const path = join(tempDir(), "k");
    writeFileSync(path, "not a key", { mode: 0o600 });
    expect(() => loadIdentity(path)).toThrow(/holds no private key/);
    expect(readFileSync(path, "utf8")).toBe("not a key");
  });
});
