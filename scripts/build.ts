// Builds ./tracker and ./client as standalone executables (bun build --compile).
// `npm run build -- --target bun-linux-arm64` (or bun-linux-x64-baseline, for old CPUs)
// cross-builds; those binaries get the target as a suffix: ./tracker-bun-linux-arm64.
import { parseArgs } from "node:util";

const { values } = parseArgs({ options: { target: { type: "string", multiple: true } }, strict: true });
const targets = values.target ?? [undefined];
for (const target of targets) {
  for (const entry of ["tracker", "client"]) {
    const outfile = target ? `${entry}-${target}` : entry;
    const args = ["build", "--compile", "--minify", "--sourcemap", `${entry}.ts`, "--outfile", outfile];
    // The client's JavaScript is glue around native hashing, copying and I/O: kept out of the
    // optimizing JITs, it runs as fast and its compilers' code never becomes resident (-5 MiB
    // of the 64 MiB a download may use).
    if (entry === "client") args.push("--compile-jit-policy=1000");
    if (target) args.push(`--target=${target}`);
    const result = Bun.spawnSync([process.execPath, ...args], { stdout: "inherit", stderr: "inherit" });
    if (result.exitCode !== 0) {
      console.error(`error: building ${outfile} failed (exit ${result.exitCode})`);
      process.exit(1);
    }
  }
}
