// Field readers for decoded CBOR: parse, don't cast. Each throws ProtocolError naming the field.
import { ProtocolError } from "../errors.ts";
import { MAX_NAME_BYTES } from "./limits.ts";

/** A decoded message: a plain map, still unchecked field by field. */
export type Fields = Record<string, unknown>;

/** Checks that `v` is a CBOR map with a string `t`. */
export function readEnvelope(v: unknown): Fields & { t: string } {
  const m = asMap(v, "message");
  if (!hasType(m)) throw new ProtocolError(`Cannot parse message: "t" is not a string`);
  return m;
}

function hasType(m: Fields): m is Fields & { t: string } {
  return typeof m.t === "string";
}

/** Checks that `v`, a decoded value named `what` in errors, is a CBOR map. */
export function asMap(v: unknown, what: string): Fields {
  if (typeof v !== "object" || v === null || Array.isArray(v) || v instanceof Uint8Array) {
    throw new ProtocolError(`Cannot parse ${what}: expected a map: got ${describe(v)}`);
  }
  // A decoded CBOR map (mapsAsObjects) is a plain object: every key is a string, every value unknown.
  return v as Fields;
}

export function readString(m: Fields, key: string, maxBytes = 65_536): string {
  const v = m[key];
  if (typeof v !== "string")
    throw new ProtocolError(`Cannot parse "${key}": expected a string: got ${describe(v)}`);
  if (Buffer.byteLength(v) > maxBytes)
    throw new ProtocolError(`Cannot parse "${key}": longer than ${maxBytes} bytes`);
  return v;
}

/** A user id, group id or file name: 1..255 bytes, printable, no whitespace or slashes. */
export function readName(m: Fields, key: string): string {
  const v = readString(m, key, MAX_NAME_BYTES);
  const problem = nameProblem(v);
  if (problem) throw new ProtocolError(`Cannot parse "${key}": ${problem}`);
  return v;
}

/** Why `name` cannot be an id or file name, or undefined when it can. */
export function nameProblem(name: string): string | undefined {
  if (name.length === 0) return "must not be empty";
  if (Buffer.byteLength(name) > MAX_NAME_BYTES) return `longer than ${MAX_NAME_BYTES} bytes`;
  // Control characters garble terminals and logs; whitespace splits command lines.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this refuses
  if (/[\u0000-\u0020\u007f-\u009f\s]/u.test(name)) return "must not contain spaces or control characters";
  if (name.includes("/") || name.includes("\\")) return "must not contain / or \\";
  if (name === "." || name === "..") return "is not a name";
  return undefined;
}

export function readInt(m: Fields, key: string, min: number, max: number): number {
  const v = m[key];
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    throw new ProtocolError(
      `Cannot parse "${key}": expected an integer in ${min}..${max}: got ${describe(v)}`,
    );
  }
  return v;
}

export function readBytes(m: Fields, key: string, minBytes: number, maxBytes: number): Uint8Array {
  const v = m[key];
  if (!(v instanceof Uint8Array))
    throw new ProtocolError(`Cannot parse "${key}": expected bytes: got ${describe(v)}`);
  if (v.byteLength < minBytes || v.byteLength > maxBytes) {
    throw new ProtocolError(
      `Cannot parse "${key}": expected ${minBytes}..${maxBytes} bytes: got ${v.byteLength}`,
    );
  }
  return v;
}

export function readArray(m: Fields, key: string, maxItems: number): unknown[] {
  const v = m[key];
  if (!Array.isArray(v))
    throw new ProtocolError(`Cannot parse "${key}": expected an array: got ${describe(v)}`);
  if (v.length > maxItems) throw new ProtocolError(`Cannot parse "${key}": more than ${maxItems} items`);
  return v;
}

export function readMap(m: Fields, key: string): Fields {
  return asMap(m[key], `"${key}"`);
}

/** Reads `key` with `read` when present, else undefined. */
export function optional<T>(m: Fields, key: string, read: (m: Fields, key: string) => T): T | undefined {
  return m[key] === undefined ? undefined : read(m, key);
}

function describe(v: unknown): string {
  if (v instanceof Uint8Array) return `${v.byteLength} bytes`;
  if (typeof v === "bigint") return `${v} (bigint)`;
  if (typeof v === "string") return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
  return Array.isArray(v) ? "an array" : v === null ? "null" : typeof v === "object" ? "a map" : String(v);
}
