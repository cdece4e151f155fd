// spec/unit/wire/base_stream.spec.ts: a compacted base as chunks of CBOR records: it reads back
// as the state it came from, every chunk is bounded and decodes alone, and a base cut short,
// changed, or not from one state is refused naming what is wrong.
import { describe, expect, test } from "bun:test";
import { ProtocolError } from "../../../lib/errors.ts";
import type { BaseImage } from "../../../lib/replica/replica.ts";
import { State } from "../../../lib/replica/state.ts";
import { RECORD, StateBuilder } from "../../../lib/replica/state_records.ts";
import { type BaseCut, BaseReader, encodeBase } from "../../../lib/wire/base_stream.ts";
import { decodeSequence, encodeSequenceItem } from "../../../lib/wire/codec.ts";

/** A state with every kind of entry, some far past one record: big groups, big files, odd strings. */
function varied(): State {
  const s = new State();
  for (let i = 0; i < 300; i++) s.users.set(`user-${i}`, { hash: `$argon2id$hash-${i}` });
  s.users.set("nul-hash", { hash: "a\0b" }); // a string with a NUL: its column is not packed
  s.users.set("ü-user", { hash: "hash with spaces and ü" });
  for (let i = 0; i < 40; i++) {
    const peer = `10.0.0.${i}:${4000 + i}`;
    s.sessions.set(`session-${i}`, { user: `user-${i}`, peer, key: i % 2 ? `key-${i}` : "" });
    s.peerSessions.set(peer, `session-${i}`);
  }
  for (let g = 0; g < 200; g++) {
    const members = new Set([`user-${g % 300}`]);
    const pending = new Set<string>();
    if (g === 7) for (let i = 0; i < 300; i++) members.add(`user-${i}`); // past one record
    if (g === 8) for (let i = 100; i < 170; i++) pending.add(`user-${i}`); // past INLINE_NAMES
    if (g === 9) pending.add("user-299");
    const files = new Map();
    if (g % 50 === 3) {
      for (let f = 0; f < 3; f++) {
        const pieces = new Uint8Array(20 * (f === 0 ? 0 : f === 1 ? 1 : 500)); // 10 KB: past one record
        for (let i = 0; i < pieces.length; i++) pieces[i] = (i * 7 + f + g) & 255;
        const sharers = new Map<string, string>();
        for (let k = 0; k < (f === 2 ? 120 : f); k++) sharers.set(`10.1.${f}.${k}:9`, `user-${k}`);
        const name = `file-${f}.bin`;
        files.set(name, {
          name,
          sizeBytes: f * 1_000_003,
          sha1: new Uint8Array(20).fill(g + f),
          pieces,
          sharers,
        });
      }
    }
    s.addGroup(`group-${g}`.padEnd(g % 3 === 0 ? 200 : 10, "x"), {
      owner: `user-${g % 300}`,
      members,
      pending,
      files,
    });
  }
  for (let i = 0; i < 500; i++)
    s.rids.add(
      `rid-${i}`,
      i % 3 ? { ok: true, wall: 1_000 + i } : { ok: false, reason: `refused ${i}`, wall: 1_000 + i },
    );
  return s;
}

const HEADER = {
  stamp: { wall: 1_700_000_000_000, count: 3, node: 2 },
  vv: [
    [1, 40],
    [2, 17],
  ] as [number, number][],
};
/** Small chunks and records, so that a small state spans many of each. */
const SMALL: BaseCut = { chunkBytes: 4_096, limits: { recordChars: 1_000, pieceBytes: 1_024 } };

const chunksOf = (state: State, cut = SMALL) => [...encodeBase(HEADER, state, cut)];

function read(chunks: Uint8Array[]): BaseImage {
  const reader = new BaseReader();
  for (const c of chunks) reader.add(c);
  return reader.finish();
}

/** The records in a chunk, decoded alone. */
function recordsIn(chunk: Uint8Array): unknown[][] {
  const records: unknown[][] = [];
  decodeSequence(chunk, (v) => records.push(v as unknown[])); // a test's look inside: every record is an array
  return records;
}

describe("a base in chunks", () => {
  test("reads back as the state it came from, in order, with its stamp and version vector", () => {
    const state = varied();
    for (const cut of [SMALL, undefined]) {
      const image = read([...encodeBase(HEADER, state, cut)]);
      expect(image.stamp).toEqual(HEADER.stamp);
      expect(image.vv).toEqual(HEADER.vv);
      expect(image.state.snapshot()).toEqual(state.snapshot());
      expect(image.state.peerSessions).toEqual(state.peerSessions);
    }
    expect(read(chunksOf(new State())).state.snapshot()).toEqual(new State().snapshot());
  });

  test("every chunk is whole records within its bound, and the end record rides alone", () => {
    const chunks = chunksOf(varied());
    expect(chunks.length).toBeGreaterThan(20);
    for (const c of chunks) expect(c.byteLength).toBeLessThanOrEqual(SMALL.chunkBytes);
    const kinds = chunks.map((c) => recordsIn(c).map((r) => r[0]));
    expect(kinds[0]?.[0]).toBe(0); // the header first
    expect(kinds.at(-1)).toEqual([10]); // the end record alone
    // A file's piece hashes are cut into records of the limit's size.
    const pieceRecords = chunks.flatMap(recordsIn).filter((r) => r[0] === RECORD.pieces);
    for (const r of pieceRecords) expect((r[1] as Uint8Array).byteLength).toBeLessThanOrEqual(1_024); // a pieces record's field 1 is its bytes
    expect(pieceRecords.length).toBeGreaterThan(12); // 10 KB per big file, 4 of them
  });

  test("a record bigger than a chunk is an error while encoding, not a chunk past the bound", () => {
    const cut: BaseCut = { chunkBytes: 256, limits: { recordChars: 10_000, pieceBytes: 1_024 } };
    expect(() => chunksOf(varied(), cut)).toThrow(/does not fit a 256-byte chunk/);
  });

  test("a base cut short, a chunk cut in half, a lost chunk or a changed byte is refused", () => {
    const chunks = chunksOf(varied());
    expect(() => read(chunks.slice(0, -1))).toThrow(
      /Base is truncated: \d+ bytes and \d+ records without its end record/,
    );
    expect(() => read([])).toThrow(/truncated/);
    const half = chunks[3]!.subarray(0, chunks[3]!.byteLength >> 1);
    expect(() => read([...chunks.slice(0, 3), half])).toThrow(ProtocolError);
    expect(() => read([...chunks.slice(0, 5), ...chunks.slice(6)])).toThrow(ProtocolError);
    // A byte inside a string changed: still CBOR, still records in place, caught by the CRC.
    const changed = chunks.map((c) => c.slice());
    const target = changed[2]!;
    const at = target.indexOf("u".charCodeAt(0), 100);
    target[at] = "v".charCodeAt(0);
    expect(() => read(changed)).toThrow(/Base is corrupt: its CRC-32 does not match/);
    // Chunks after the end record.
    const reader = new BaseReader();
    for (const c of chunks) reader.add(c);
    expect(() => reader.add(chunks[1]!)).toThrow(/after its end record/);
  });

  test("a header of another format, or records that are not one state's, are refused by name", () => {
    const other = new Uint8Array(encodeSequenceItem([0, 2, [1, 0, 1], []]));
    expect(() => new BaseReader().add(other)).toThrow(/Base is in format 2; this tracker reads format 1/);
    const noHeader = new Uint8Array(encodeSequenceItem([RECORD.user, "u", "h"]));
    expect(() => new BaseReader().add(noHeader)).toThrow(/does not start with its header/);
    const header = new Uint8Array(encodeSequenceItem([0, 1, [1, 0, 1], []]));
    const withRecord = (record: unknown[]) => {
      const reader = new BaseReader();
      reader.add(header);
      reader.add(new Uint8Array(encodeSequenceItem(record)));
      return reader;
    };
    expect(() => withRecord([RECORD.members, "a\0b"])).toThrow(/a member before any group/);
    expect(() => withRecord([RECORD.user, "a\0a", "h\0h"])).toThrow(/user a twice/);
    expect(() => withRecord([RECORD.user, "a\0b", "h"])).toThrow(/columns of unequal length/);
    expect(() => withRecord([RECORD.pieces, new Uint8Array(20)])).toThrow(/piece hashes before any file/);
    expect(() => withRecord([RECORD.user, 5, "h"])).toThrow(/expected a column of strings/);
    expect(() => withRecord([42, "x"])).toThrow(/unknown kind/);
    expect(() => withRecord([RECORD.group, "g", "o", "m", [], [2], [0]])).toThrow(/fewer names than counted/);
  });

  test("a file missing some of its piece hashes is refused when the next record or the end comes", () => {
    const b = new StateBuilder();
    b.group("g", "o");
    b.file("f", 1, new Uint8Array(20), 40);
    b.pieces(new Uint8Array(20));
    expect(() => b.finish()).toThrow(/file f has 20 of its 40 bytes of piece hashes/);
    const c = new StateBuilder();
    c.group("g", "o");
    c.file("f", 1, new Uint8Array(20), 20);
    expect(() => c.pieces(new Uint8Array(40))).toThrow(/more piece hashes than file f declares/);
  });

  test("a transfer cut after any chunk continues from the reader's byte count and reads back whole", () => {
    const state = varied();
    const chunks = chunksOf(state);
    const offsets: number[] = [];
    let at = 0;
    for (const c of chunks) {
      offsets.push(at);
      at += c.byteLength;
    }
    for (const cutAfter of [1, 7, chunks.length - 1]) {
      const reader = new BaseReader();
      for (const c of chunks.slice(0, cutAfter)) reader.add(c);
      // The sender resumes at the chunk that starts where the reader stopped.
      const resume = offsets.indexOf(reader.bytes);
      expect(resume).toBe(cutAfter);
      for (const c of chunks.slice(resume)) reader.add(c);
      expect(reader.finish().state.snapshot()).toEqual(state.snapshot());
    }
  });
});
