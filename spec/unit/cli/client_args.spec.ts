// spec/unit/cli/client_args.spec.ts: the client's command line, accepted and refused.
import { describe, expect, test } from "bun:test";
import { parseClientArgs } from "../../../lib/cli/client_args.ts";

describe("parseClientArgs", () => {
  test("takes the address, the tracker file and an optional data dir in either spelling", () => {
    expect(parseClientArgs(["127.0.0.1:5000", "t.txt"])).toEqual({
      ok: true,
      args: { help: false, peer: "127.0.0.1:5000", info: "t.txt", dataDir: undefined },
    });
    for (const argv of [
      ["127.0.0.1:5000", "t.txt", "--data-dir", "d"],
      ["--data-dir", "d", "127.0.0.1:5000", "t.txt"],
      ["127.0.0.1:5000", "--data-dir=d", "t.txt"],
    ]) {
      expect(parseClientArgs(argv)).toEqual({
        ok: true,
        args: { help: false, peer: "127.0.0.1:5000", info: "t.txt", dataDir: "d" },
      });
    }
  });

  test("reads everything after -- as positional, so a file may start with a dash", () => {
    expect(parseClientArgs(["127.0.0.1:5000", "--", "-t.txt"])).toEqual({
      ok: true,
      args: { help: false, peer: "127.0.0.1:5000", info: "-t.txt", dataDir: undefined },
    });
  });

  test("answers -h and --help wherever they stand", () => {
    expect(parseClientArgs(["--help"])).toEqual({ ok: true, args: { help: true } });
    expect(parseClientArgs(["127.0.0.1:5000", "-h", "--bogus"])).toEqual({ ok: true, args: { help: true } });
  });

  test("refuses missing, extra and unknown arguments with a reason", () => {
    const cases: [string[], string][] = [
      [[], "missing <IP>:<PORT> and tracker_info.txt"],
      [["127.0.0.1:5000"], "missing tracker_info.txt"],
      [["127.0.0.1:5000", "t.txt", "extra"], "unexpected argument extra"],
      [["127.0.0.1:5000", "t.txt", "--bogus"], "unknown option --bogus"],
      [["127.0.0.1:5000", "t.txt", "--data-dir"], "--data-dir needs a directory"],
      [["127.0.0.1:5000", "t.txt", "--data-dir="], "--data-dir needs a directory"],
      [["127.0.0.1:5000", "t.txt", "--data-dir", "a", "--data-dir", "b"], "--data-dir given twice"],
    ];
    for (const [argv, reason] of cases)
      expect({ argv, result: parseClientArgs(argv) }).toEqual({ argv, result: { ok: false, reason } });
  });
});

describe("parseClientArgs identity options", () => {
  test("takes --key-file in either spelling and --strict", () => {
    for (const argv of [
      ["127.0.0.1:5000", "t.txt", "--key-file", "k.pem", "--strict"],
      ["--strict", "--key-file=k.pem", "127.0.0.1:5000", "t.txt"],
    ]) {
      expect(parseClientArgs(argv)).toEqual({
        ok: true,
        args: { help: false, peer: "127.0.0.1:5000", info: "t.txt", keyFile: "k.pem", strict: true },
      });
    }
  });

  test("refuses --key-file without a file, or twice", () => {
    expect(parseClientArgs(["127.0.0.1:5000", "t.txt", "--key-file"])).toEqual({
      ok: false,
      reason: "--key-file needs a file",
    });
    expect(parseClientArgs(["127.0.0.1:5000", "t.txt", "--key-file", "a", "--key-file=b"])).toEqual({
      ok: false,
      reason: "--key-file given twice",
    });
  });
});
