// spec/unit/identity/fingerprint.spec.ts: key ids, printed and parsed.
import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { ID_CHARS, keyId, parseKeyId } from "../../../lib/identity/fingerprint.ts";

describe("keyId", () => {
  test("is base32 of the first 160 bits of SHA-256 of the key, in 8 groups of 4", () => {
    const spki = new TextEncoder().encode("any public key bytes");
    const id = keyId(spki);
    expect(id).toMatch(/^[a-z2-7]{4}(-[a-z2-7]{4}){7}$/);
    // Decode the base32 back and compare with the digest.
    const alphabet = "abcdefghijklmnopqrstuvwxyz234567";
    let bits = "";
    for (const c of id.replaceAll("-", "")) bits += alphabet.indexOf(c).toString(2).padStart(5, "0");
    const bytes = Buffer.from(bits.match(/.{8}/g)!.map((b) => Number.parseInt(b, 2)));
    expect(bytes).toEqual(createHash("sha256").update(spki).digest().subarray(0, 20));
  });

  test("differs for keys that differ in one byte", () => {
    expect(keyId(Uint8Array.of(1, 2, 3))).not.toBe(keyId(Uint8Array.of(1, 2, 4)));
  });
});

describe("parseKeyId", () => {
  const id = keyId(Uint8Array.of(9, 9, 9));

  test("reads an id in any case, with or without its dashes", () => {
    expect(parseKeyId(id)).toBe(id);
    expect(parseKeyId(id.toUpperCase())).toBe(id);
    expect(parseKeyId(id.replaceAll("-", ""))).toBe(id);
  });

  test("refuses wrong lengths and characters outside base32", () => {
    const bare = id.replaceAll("-", "");
    expect(bare.length).toBe(ID_CHARS);
    expect(parseKeyId(bare.slice(1))).toBeUndefined();
    expect(parseKeyId(`${bare}a`)).toBeUndefined();
    expect(parseKeyId(`1${bare.slice(1)}`)).toBeUndefined(); // 1 is not in the alphabet
    expect(parseKeyId(`${bare.slice(1)}=`)).toBeUndefined();
    expect(parseKeyId("")).toBeUndefined();
  });
});
