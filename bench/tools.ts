// The reference tools: installs each missing one with apt-get (Debian packages only), and
// reports the versions in use. Never installs what is already there.

import { messageOf } from "../lib/errors.ts";
import { runCommand, runOk } from "./proc.ts";

/** Binary name -> the Debian package that ships it. */
const PACKAGES: Record<string, string> = {
  aria2c: "aria2",
  opentracker: "opentracker",
  mktorrent: "mktorrent",
};

const APT_TIMEOUT_MS = 300_000;

/** Installs whichever of aria2c, opentracker and mktorrent is missing; throws if that fails. */
export async function ensureTools(log: (line: string) => void): Promise<void> {
  const missing = Object.keys(PACKAGES).filter((bin) => !Bun.which(bin));
  if (missing.length === 0) return;
  const packages = missing.map((bin) => PACKAGES[bin]!);
  log(`installing ${packages.join(", ")} with apt-get (missing: ${missing.join(", ")})`);
  const env = ["env", "DEBIAN_FRONTEND=noninteractive"];
  try {
    await runOk([...env, "apt-get", "update", "-qq"], { timeoutMs: APT_TIMEOUT_MS });
    await runOk([...env, "apt-get", "install", "-y", "-qq", ...packages], { timeoutMs: APT_TIMEOUT_MS });
  } catch (err) {
    throw new Error(
      `cannot install ${packages.join(", ")} (run as root on Debian, or install them by hand): ${messageOf(err)}`,
    );
  }
  const still = missing.filter((bin) => !Bun.which(bin));
  if (still.length > 0) throw new Error(`apt-get ran but ${still.join(", ")} is still missing from PATH`);
}

/** Package versions of the reference tools, as dpkg knows them. */
export async function toolVersions(): Promise<Record<string, string>> {
  const versions: Record<string, string> = {};
  for (const pkg of Object.values(PACKAGES)) {
    const ran = await runCommand(["dpkg-query", "-W", "-f", "$" + "{Version}", pkg], { timeoutMs: 10_000 });
    versions[pkg] = ran.exitCode === 0 ? ran.stdout.trim() : "unknown (not from dpkg)";
  }
  return versions;
}
