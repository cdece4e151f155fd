// Assertions on what one client command printed (for e2e specs; needs bun:test).
import { expect } from "bun:test";
import type { ClientProcess } from "./client_process.ts";

/** Expects a command to print exactly `out` on stdout and nothing else. */
export async function expectOut(client: ClientProcess, line: string, out: string[]): Promise<void> {
  const r = await client.run(line);
  expect({ line, out: r.out, err: r.err }).toEqual({ line, out, err: [] });
}

/** Expects a command to fail with exactly one `error: ` line and print nothing on stdout. */
export async function expectError(client: ClientProcess, line: string, error: string): Promise<void> {
  const r = await client.run(line);
  expect({ line, out: r.out, err: r.err }).toEqual({ line, out: [], err: [`error: ${error}`] });
}
