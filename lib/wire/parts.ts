// Anything that grows with the state (a listing, a base, a batch of operations, a file's piece
// hashes) travels as parts, each a frame far below the frame limit, and is taken back with its
// own bound. Pure.
import { ProtocolError } from "../errors.ts";
import { type Fields, readBytes, readInt, readString } from "./fields.ts";

/** Bytes of one part of a byte stream (a compacted base): 1/8 of the frame limit. */
export const PART_BYTES = 1024 * 1024;

/** Limits of one batch of items. */
export interface ItemPartOptions<T> {
  /** Items per part at most. */
  maxItems: number;
  /** Estimated encoded bytes per part at most (a part holds at least one item). */
  maxBytes: number;
  /** Estimated encoded bytes of one item. */
  sizeOf: (item: T) => number;
  /** Items in the first part at most, so that the first line of a long listing comes at once. */
  firstItems?: number;
}

/** Cuts `items` into batches within the options' count and byte bounds, in order. */
export function* itemParts<T>(items: Iterable<T>, options: ItemPartOptions<T>): Generator<T[]> {
  let batch: T[] = [];
  let bytes = 0;
  let limit = options.firstItems ?? options.maxItems;
  for (const item of items) {
    const size = options.sizeOf(item);
    if (batch.length > 0 && (batch.length >= limit || bytes + size > options.maxBytes)) {
      yield batch;
      batch = [];
      bytes = 0;
      limit = options.maxItems;
    }
    batch.push(item);
    bytes += size;
  }
  if (batch.length > 0) yield batch;
}

/** The slices of `bytes` from `offset` on, each at most `partBytes`, with their offsets. */
export function* byteParts(
  bytes: Uint8Array,
  offset = 0,
  partBytes = PART_BYTES,
): Generator<{ offset: number; bytes: Uint8Array }> {
  for (let at = offset; at < bytes.byteLength; at += partBytes)
    yield { offset: at, bytes: bytes.subarray(at, Math.min(at + partBytes, bytes.byteLength)) };
}

/**
 * Takes back one byte stream of `totalBytes` from parts that arrive in order. The declared total
 * is checked against `maxBytes` before anything is kept, and memory follows the bytes received.
 * A part that does not continue where the last one ended (a resent or a stale one) is skipped,
 * so a stream cut halfway continues from `offset` on the next try.
 */
export class ByteAssembler {
  readonly totalBytes: number;
  #parts: Uint8Array[] = [];
  #offset = 0;

  constructor(totalBytes: number, maxBytes: number) {
    if (!Number.isSafeInteger(totalBytes) || totalBytes < 0 || totalBytes > maxBytes)
      throw new ProtocolError(`Stream of ${totalBytes} bytes exceeds the limit of ${maxBytes}`);
    this.totalBytes = totalBytes;
  }

  /** Bytes received so far, with no gap: where the stream continues. */
  get offset(): number {
    return this.#offset;
  }

  get complete(): boolean {
    return this.#offset === this.totalBytes;
  }

  /** Takes the part at `offset`; false (nothing kept) if it does not continue the stream. */
  add(offset: number, bytes: Uint8Array): boolean {
    if (offset !== this.#offset) return false;
    if (offset + bytes.byteLength > this.totalBytes)
      throw new ProtocolError(`Part at ${offset} of ${bytes.byteLength} bytes runs past ${this.totalBytes}`);
    this.#parts.push(bytes.slice()); // a copy: the decoder's buffer may be reused
    this.#offset += bytes.byteLength;
    return true;
  }

  /** The whole stream once complete, in one buffer. */
  take(): Uint8Array {
    if (!this.complete) throw new Error(`stream taken at ${this.#offset} of ${this.totalBytes} bytes`);
    const whole = new Uint8Array(this.totalBytes);
    let at = 0;
    for (const part of this.#parts) {
      whole.set(part, at);
      at += part.byteLength;
    }
    this.#parts = [];
    return whole;
  }
}

/**
 * Messages up to this many encoded bytes go as one frame (a listing's part, a base part, a batch
 * of small operations); a larger one (a share with many piece hashes) goes in PART_BYTES parts.
 * Both are far below the frame limit, which stays a defence and never bounds what a message holds.
 */
export const WHOLE_MESSAGE_BYTES = 2 * PART_BYTES;

/** One part of a message sent in parts: the frame `{ t: "msg_part", kind, total, offset, bytes }`. */
export interface MessagePart {
  /** The whole message's own `t`, so that the receiver checks its kind's bound at the first part. */
  kind: string;
  /** The whole message's encoded bytes. */
  total: number;
  offset: number;
  bytes: Uint8Array;
}

/** The parts of one encoded message `body` whose type is `kind`, in order. */
export function* messageParts(
  kind: string,
  body: Uint8Array,
  partBytes = PART_BYTES,
): Generator<MessagePart> {
  for (const part of byteParts(body, 0, partBytes))
    yield { kind, total: body.byteLength, offset: part.offset, bytes: part.bytes };
}

/** Checks a decoded `msg_part` frame; its kind is a message type (`share`, `sync_ops`), safe to log. */
export function parseMessagePart(m: Fields): MessagePart {
  const kind = readString(m, "kind", 32);
  if (!/^[a-z_]+$/.test(kind)) throw new ProtocolError(`Cannot parse "kind": not a message type`);
  return {
    kind,
    total: readInt(m, "total", 1, Number.MAX_SAFE_INTEGER),
    offset: readInt(m, "offset", 0, Number.MAX_SAFE_INTEGER),
    bytes: readBytes(m, "bytes", 1, PART_BYTES),
  };
}

/**
 * Takes back the messages one connection receives in parts, one at a time (ordinary frames may
 * come between two parts). `bounds` gives, per message type, the largest message taken in parts:
 * the first part's declared total is checked against it before anything is kept, and a type
 * missing from it is refused (no connection takes parts before its peer proved who it is).
 * Parts arrive in order on a stream, so anything else is the peer's mistake; a connection that
 * closes mid-message simply drops the assembler, and nothing of the message was delivered.
 */
export class MessageAssembler {
  bounds: Readonly<Record<string, number>>;
  #kind = "";
  #current: ByteAssembler | undefined;

  constructor(bounds: Readonly<Record<string, number>> = {}) {
    this.bounds = bounds;
  }

  /** Bytes held for the message under way. */
  get bufferedBytes(): number {
    return this.#current?.offset ?? 0;
  }

  /** Takes one part; the whole message's encoded bytes once its last part is in, else undefined. */
  add(part: MessagePart): Uint8Array | undefined {
    let current = this.#current;
    if (current === undefined) {
      if (part.offset !== 0)
        throw new ProtocolError(`Part of a ${part.kind} message at ${part.offset} before its first part`);
      const bound = Object.hasOwn(this.bounds, part.kind) ? this.bounds[part.kind] : undefined;
      if (bound === undefined) throw new ProtocolError(`A ${part.kind} message in parts is not taken here`);
      try {
        current = new ByteAssembler(part.total, bound);
      } catch {
        throw new ProtocolError(
          `A ${part.kind} message of ${part.total} bytes exceeds the limit of ${bound} for ${part.kind} messages`,
        );
      }
      this.#current = current;
      this.#kind = part.kind;
    } else if (part.kind !== this.#kind || part.total !== current.totalBytes) {
      throw new ProtocolError(
        `A ${part.kind} message began before the ${this.#kind} message under way ended`,
      );
    }
    if (!current.add(part.offset, part.bytes))
      throw new ProtocolError(
        `Part of a ${part.kind} message at ${part.offset}, expected at ${current.offset}`,
      );
    if (!current.complete) return undefined;
    this.#current = undefined;
    return current.take();
  }

  /** The type of the message a completed `add` returned (checked against what it decodes to). */
  get kind(): string {
    return this.#kind;
  }
}
