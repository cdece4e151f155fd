// spec/unit/identity/der.spec.ts: the DER writer and the self-signed certificate template.
import { describe, expect, test } from "bun:test";
import { generateKeyPairSync, sign, X509Certificate } from "node:crypto";
import { pem, selfSignedCertificate, sequence, tlv } from "../../../lib/identity/der.ts";

describe("tlv", () => {
  test("writes short-form lengths below 128 and long-form lengths from 128", () => {
    expect([...tlv(0x04, new Uint8Array(0))]).toEqual([0x04, 0]);
    expect([...tlv(0x04, new Uint8Array(127)).subarray(0, 2)]).toEqual([0x04, 127]);
    expect([...tlv(0x04, new Uint8Array(128)).subarray(0, 3)]).toEqual([0x04, 0x81, 128]);
    expect([...tlv(0x04, new Uint8Array(255)).subarray(0, 3)]).toEqual([0x04, 0x81, 255]);
    expect([...tlv(0x04, new Uint8Array(256)).subarray(0, 4)]).toEqual([0x04, 0x82, 1, 0]);
    expect([...tlv(0x04, new Uint8Array(70_000)).subarray(0, 5)]).toEqual([0x04, 0x83, 0x01, 0x11, 0x70]);
    expect(tlv(0x04, new Uint8Array(70_000)).byteLength).toBe(70_005);
  });

  test("nests a sequence around its items in order", () => {
    expect([...sequence(Uint8Array.of(1, 2), Uint8Array.of(3))]).toEqual([0x30, 3, 1, 2, 3]);
  });
});

describe("selfSignedCertificate", () => {
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  const spki = new Uint8Array(publicKey.export({ format: "der", type: "spki" }));
  const der = selfSignedCertificate(spki, (tbs) => new Uint8Array(sign(null, tbs, privateKey)));

  test("is a certificate node:crypto parses, for the given key, signed by it", () => {
    const cert = new X509Certificate(pem("CERTIFICATE", der));
    expect(cert.publicKey.equals(publicKey)).toBe(true);
    expect(cert.verify(publicKey)).toBe(true);
    expect(cert.subject).toBe("CN=p2p-groups");
    expect(cert.issuer).toBe("CN=p2p-groups");
    expect(cert.validToDate.getUTCFullYear()).toBe(9999);
    expect(new X509Certificate(Buffer.from(der)).raw).toEqual(Buffer.from(der));
  });

  test("fails verification under another key, and when a byte of it changes", () => {
    const other = generateKeyPairSync("ed25519").publicKey;
    expect(new X509Certificate(pem("CERTIFICATE", der)).verify(other)).toBe(false);
    const bent = der.slice();
    bent[bent.byteLength - 1]! ^= 1; // last byte of the signature
    expect(new X509Certificate(pem("CERTIFICATE", bent)).verify(publicKey)).toBe(false);
  });

  test("is the same certificate every time for one key (Ed25519 signs deterministically)", () => {
    const again = selfSignedCertificate(spki, (tbs) => new Uint8Array(sign(null, tbs, privateKey)));
    expect(again).toEqual(der);
  });
});

describe("pem", () => {
  test("wraps base64 at 64 characters between BEGIN and END lines", () => {
    const text = pem("CERTIFICATE", new Uint8Array(100));
    const lines = text.trim().split("\n");
    expect(lines[0]).toBe("-----BEGIN CERTIFICATE-----");
    expect(lines.at(-1)).toBe("-----END CERTIFICATE-----");
    expect(lines.slice(1, -1).map((l) => l.length)).toEqual([64, 64, 8]); // 100 bytes: 136 base64 characters
    expect(Buffer.from(lines.slice(1, -1).join(""), "base64")).toEqual(Buffer.alloc(100));
  });
});
