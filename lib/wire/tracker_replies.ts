// The data of a tracker's successful replies: one type per request that returns data, built by the
// tracker and parsed by the client field by field (parse, don't cast), as requests are at the tracker.
import { ProtocolError } from "../errors.ts";
import { asMap, type Fields, readArray, readBytes, readInt, readName, readString } from "./fields.ts";
import { MAX_PEER_BYTES, MAX_PIECE_HASH_BYTES } from "./tracker_protocol.ts";

/** Entries one listing may carry. */
const MAX_LIST_ITEMS = 1_000_000;

/** One line of `list_groups`. */
export interface GroupSummary {
  id: string;
  owner: string;
  members: number;
  files: number;
}

/** One line of `list_files`. */
export interface FileSummary {
  name: string;
  sizeBytes: number;
  seeders: number;
}

/** What a downloader needs to fetch a file: its hashes and the live peers that share it. */
export interface FileInfo {
  name: string;
  sizeBytes: number;
  sha1: Uint8Array;
  pieces: Uint8Array;
  peers: string[];
  /** Peer address -> the id of the key its session registered: the key that seeder must present. */
  keys: Record<string, string>;
}

export function parseGroupList(data: Fields): GroupSummary[] {
  return readArray(data, "groups", MAX_LIST_ITEMS).map((v) => {
    const g = asMap(v, "group");
    return {
      id: readName(g, "id"),
      owner: readName(g, "owner"),
      members: readInt(g, "members", 0, Number.MAX_SAFE_INTEGER),
      files: readInt(g, "files", 0, Number.MAX_SAFE_INTEGER),
    };
  });
}

export function parseFileList(data: Fields): FileSummary[] {
  return readArray(data, "files", MAX_LIST_ITEMS).map((v) => {
    const f = asMap(v, "file");
    return {
      name: readName(f, "name"),
      sizeBytes: readInt(f, "sizeBytes", 0, Number.MAX_SAFE_INTEGER),
      seeders: readInt(f, "seeders", 0, Number.MAX_SAFE_INTEGER),
    };
  });
}

/** The user ids of `list_requests`. */
export function parseUserList(data: Fields): string[] {
  return readArray(data, "users", MAX_LIST_ITEMS).map((user) => readName({ user }, "user"));
}

export function parseFileInfo(data: Fields): FileInfo {
  const pieces = readBytes(data, "pieces", 0, MAX_PIECE_HASH_BYTES);
  if (pieces.byteLength % 20 !== 0)
    throw new ProtocolError(`Cannot parse "pieces": not a multiple of 20 bytes`);
  return {
    name: readName(data, "name"),
    sizeBytes: readInt(data, "sizeBytes", 0, Number.MAX_SAFE_INTEGER),
    // Copies: decoded byte strings are views into the reply's frame, which the download outlives.
    sha1: new Uint8Array(readBytes(data, "sha1", 20, 20)),
    pieces: new Uint8Array(pieces),
    peers: readArray(data, "peers", MAX_LIST_ITEMS).map((peer) =>
      readString({ peer }, "peer", MAX_PEER_BYTES),
    ),
    keys: readKeys(data),
  };
}

/** The `keys` map of a file_info reply: peer address -> key id (at most 64 characters each). */
function readKeys(data: Fields): Record<string, string> {
  const keys: Record<string, string> = {};
  const map = asMap(data.keys ?? {}, "keys");
  for (const peer of Object.keys(map)) {
    if (peer.length > MAX_PEER_BYTES) throw new ProtocolError(`Cannot parse "keys": peer address too long`);
    keys[peer] = readString(map, peer, 64);
  }
  return keys;
}
