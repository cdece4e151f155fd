// Shell: a compacted base on disk, as one file of its chunks, each after its length (u32,
// big-endian). Appending a chunk is one write to the page cache (0.5 ms per MiB here, where a
// 1 MiB SQLite row cost 2 to 11 ms through the WAL and its checkpoint), reading one is one read,
// and neither holds more than a chunk. Offsets given and returned are in the chunks' stream
// (lengths not counted): the offsets of a base transfer.
import { closeSync, fsyncSync, openSync, readSync, writeSync } from "node:fs";
import { MAX_FRAME_BYTES } from "../wire/limits.ts";

/** A chunk file being written. */
export class ChunkFileWriter {
  #fd: number;
  #bytes = 0;
  #closed = false;

  constructor(path: string) {
    this.#fd = openSync(path, "w", 0o600);
  }

  /** Bytes of chunks written (lengths not counted). */
  get bytes(): number {
    return this.#bytes;
  }

  append(chunk: Uint8Array): void {
    const length = new Uint8Array(4);
    new DataView(length.buffer).setUint32(0, chunk.byteLength);
    writeAll(this.#fd, length);
    writeAll(this.#fd, chunk);
    this.#bytes += chunk.byteLength;
  }

  /** Closes it, synced to the disk first when `fsync` (for power loss). */
  close(fsync = false): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      if (fsync) fsyncSync(this.#fd);
    } finally {
      closeSync(this.#fd);
    }
  }
}

/**
 * The chunks of the file at `path`, from the one that starts at stream offset `from` (undefined
 * if none starts there), read one at a time. The file is open until the generator ends, so a
 * reader goes on even if the file is replaced and deleted meanwhile.
 */
export function* readChunks(path: string, from = 0): Generator<{ offset: number; bytes: Uint8Array }> {
  const fd = openSync(path, "r");
  try {
    const length = new Uint8Array(4);
    const view = new DataView(length.buffer);
    let position = 0;
    let offset = 0;
    for (;;) {
      const got = readSync(fd, length, 0, 4, position);
      if (got === 0) return;
      if (got !== 4) throw new Error(`chunk file ${path} ends inside a chunk length at byte ${position}`);
      const size = view.getUint32(0);
      if (size > MAX_FRAME_BYTES)
        throw new Error(`chunk file ${path} holds a chunk of ${size} bytes at byte ${position}`);
      position += 4;
      if (offset >= from) {
        const bytes = new Uint8Array(size);
        if (readSync(fd, bytes, 0, size, position) !== size)
          throw new Error(`chunk file ${path} ends inside the chunk at byte ${position}`);
        yield { offset, bytes };
      }
      position += size;
      offset += size;
    }
  } finally {
    closeSync(fd);
  }
}

/** Whether a chunk of the file at `path` starts at stream offset `offset`. */
export function chunkStartsAt(path: string, offset: number): boolean {
  const fd = openSync(path, "r");
  try {
    const length = new Uint8Array(4);
    const view = new DataView(length.buffer);
    let position = 0;
    let at = 0;
    while (at < offset) {
      if (readSync(fd, length, 0, 4, position) !== 4) return false;
      const size = view.getUint32(0);
      position += 4 + size;
      at += size;
    }
    return at === offset && readSync(fd, length, 0, 4, position) === 4;
  } finally {
    closeSync(fd);
  }
}

/** Syncs directory `dir`, so that a file just made in it survives power loss too. */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function writeAll(fd: number, bytes: Uint8Array): void {
  for (let at = 0; at < bytes.byteLength; ) at += writeSync(fd, bytes, at, bytes.byteLength - at);
}
