// The two bencode facts the reference swarm needs: a torrent's info hash and a scrape's seeder
// count. Pure: no I/O (the caller reads the torrent and fetches the scrape).

/** SHA-1 of the raw bytes of the torrent's `info` dictionary, as 40 hex digits. */
export function infoHashHex(torrent: Uint8Array): string {
  if (torrent[0] !== 0x64) throw new Error("not a torrent: expected a bencoded dictionary");
  let at = 1;
  while (torrent[at] !== 0x65) {
    const [key, valueAt] = readString(torrent, at);
    const end = skipValue(torrent, valueAt);
    if (key === "info")
      return new Bun.CryptoHasher("sha1").update(torrent.subarray(valueAt, end)).digest("hex");
    at = end;
  }
  throw new Error("not a torrent: no info dictionary");
}

/** The `complete` (seeder) count in an HTTP scrape answer, 0 when the hash is not listed yet. */
export function scrapeSeeders(body: Uint8Array): number {
  const text = new TextDecoder("latin1").decode(body);
  const m = text.match(/8:completei(\d+)e/);
  return m ? Number(m[1]) : 0;
}

/** Percent-encodes raw bytes for a tracker URL (`info_hash=`). */
export function urlEncodeBytes(bytes: Uint8Array): string {
  return [...bytes].map((b) => `%${b.toString(16).padStart(2, "0")}`).join("");
}

function readString(b: Uint8Array, at: number): [string, number] {
  const colon = b.indexOf(0x3a, at);
  if (colon < 0) throw new Error(`bad bencode string at byte ${at}`);
  const length = Number(new TextDecoder().decode(b.subarray(at, colon)));
  const start = colon + 1;
  return [new TextDecoder("latin1").decode(b.subarray(start, start + length)), start + length];
}

/** The offset just past the bencoded value starting at `at`. */
function skipValue(b: Uint8Array, at: number): number {
  const c = b[at];
  if (c === 0x69) return b.indexOf(0x65, at) + 1; // i<digits>e
  if (c === 0x6c || c === 0x64) {
    // l...e or d...e: keys of a dictionary are strings, themselves values to skip
    let p = at + 1;
    while (b[p] !== 0x65) {
      if (p >= b.length) throw new Error("truncated bencode");
      p = skipValue(b, p);
    }
    return p + 1;
  }
  if (c !== undefined && c >= 0x30 && c <= 0x39) return readString(b, at)[1];
  throw new Error(`bad bencode value at byte ${at}`);
}
