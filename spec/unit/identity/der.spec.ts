// spec/unit/identity/der.spec.ts: the DER writer, the self-signed certificate template and PEM.
import { describe, expect, test } from "bun:test";
import { generateKeyPairSync, sign, X509Certificate } from "node:crypto";
import {
  ed25519Spki,
  pem,
  sequence,
  signedCertificate,
  tbsCertificate,
  tlv,
  unpem,
} from "../../../lib/identity/der.ts";

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

describe("the self-signed certificate", () => {
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  const spki = new Uint8Array(publicKey.export({ format: "der", type: "spki" }));
  const certify = () => {
    const tbs = tbsCertificate(spki);
    return signedCertificate(tbs, new Uint8Array(sign(null, tbs, privateKey)));
  };
  const der = certify();

  test("ed25519Spki builds the SubjectPublicKeyInfo node:crypto exports for the raw key", () => {
    const raw = spki.subarray(spki.byteLength - 32);
    expect(ed25519Spki(raw)).toEqual(spki);
  });

  test("is a certificate node:crypto parses, for the given key, signed by it", () => {
    const cert = new X509Certificate(pem("CERTIFICATE", der));
    expect(cert.publicKey.equals(publicKey)).toBe(true);
    expect(cert.verify(publicKey)).toBe(true);
    expect(cert.subject).toBe("CN=p2p-groups");
    expect(cert.issuer).toBe("CN=p2p-groups");
    expect(cert.validToDate.getUTCFullYear()).toBe(9999);
    expect(Buffer.from(new X509Certificate(Buffer.from(der)).raw).equals(Buffer.from(der))).toBe(true);
  });

  test("fails verification under another key, and when a byte of it changes", () => {
    const other = generateKeyPairSync("ed25519").publicKey;
    expect(new X509Certificate(pem("CERTIFICATE", der)).verify(other)).toBe(false);
    const bent = der.slice();
    bent[bent.byteLength - 1]! ^= 1; // last byte of the signature
    expect(new X509Certificate(pem("CERTIFICATE", bent)).verify(publicKey)).toBe(false);
  });

  test("is the same certificate every time for one key (Ed25519 signs deterministically)", () => {
    expect(certify()).toEqual(der);
  });
});

describe("pem and unpem", () => {
  test("wrap base64 at 64 characters between BEGIN and END lines, and read it back", () => {
    const bytes = crypto.getRandomValues(new Uint8Array(100));
    const text = pem("CERTIFICATE", bytes);
    const lines = text.trim().split("\n");
    expect(lines[0]).toBe("-----BEGIN CERTIFICATE-----");
    expect(lines.at(-1)).toBe("-----END CERTIFICATE-----");
    expect(lines.slice(1, -1).map((l) => l.length)).toEqual([64, 64, 8]); // 100 bytes: 136 characters
    expect(unpem("CERTIFICATE", text)).toEqual(bytes);
  });

  test("unpem finds nothing under another label or in text without armour", () => {
    expect(unpem("PRIVATE KEY", pem("CERTIFICATE", Uint8Array.of(1)))).toBeUndefined();
    expect(unpem("PRIVATE KEY", "not a key")).toBeUndefined();
  });
});
