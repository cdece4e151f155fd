// Deterministic test bytes for unit tests. Test helper (never a spec file).

/** Non-repeating bytes from an LCG seeded with `seed`, so no two pieces hash alike. */
export function fileBytes(sizeBytes: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(sizeBytes);
  let state = seed >>> 0;
  for (let i = 0; i < sizeBytes; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    bytes[i] = state >>> 24;
  }
  return bytes;
}
