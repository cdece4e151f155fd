// spec/unit/cli/client_args.spec.ts: the client's command line, accepted and refused.
import { describe, expect, test } from "bun:test";
import { parseClientArgs, parseWebListen } from "../../../lib/cli/client_args.ts";

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

  test("takes --web PORT (loopback) or --web IP:PORT, in either spelling", () => {
    for (const [argv, web] of [
      [["127.0.0.1:5000", "t.txt", "--web", "8080"], { host: "127.0.0.1", port: 8080 }],
      [["--web=0.0.0.0:8080", "127.0.0.1:5000", "t.txt"], { host: "0.0.0.0", port: 8080 }],
      [["127.0.0.1:5000", "t.txt", "--web", "[::1]:8080"], { host: "::1", port: 8080 }],
      [["127.0.0.1:5000", "t.txt", "--web", "localhost:8080"], { host: "127.0.0.1", port: 8080 }],
    ] as const) {
      expect(parseClientArgs(argv)).toEqual({
        ok: true,
        args: { help: false, peer: "127.0.0.1:5000", info: "t.txt", dataDir: undefined, web },
      });
    }
  });

  test("refuses a --web without a value, twice, or with a bad port or address, in one line", () => {
    expect(parseClientArgs(["127.0.0.1:5000", "t.txt", "--web"])).toEqual({
      ok: false,
      reason: "--web needs [IP:]PORT",
    });
    expect(parseClientArgs(["a:1", "t.txt", "--web", "1", "--web", "2"])).toEqual({
      ok: false,
      reason: "--web given twice",
    });
    for (const value of ["0", "65536", "80a", "1.2.3.4:", "1.2.3.4:-1"])
      expect(parseWebListen(value)).toEqual({
        ok: false,
        reason: `--web "${value}": expected [IP:]PORT with PORT in 1..65535`,
      });
    for (const value of ["evil.example:80", "1.2.3.256:80", "[zz]:80"])
      expect(parseWebListen(value)).toEqual({
        ok: false,
        reason: expect.stringContaining("is not an IP address"),
      });
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

  test("takes --give-up-after SECONDS in either spelling", () => {
    for (const argv of [
      ["127.0.0.1:5000", "t.txt", "--give-up-after", "5"],
      ["--give-up-after=5", "127.0.0.1:5000", "t.txt"],
    ]) {
      const parsed = parseClientArgs(argv);
      expect(parsed.ok && !parsed.args.help && parsed.args.giveUpAfterS).toBe(5);
    }
  });

  test("refuses --give-up-after without seconds in 1..86400, or twice", () => {
    for (const value of ["", "0", "-3", "abc", "86401", "1e3"]) {
      const parsed = parseClientArgs(["127.0.0.1:5000", "t.txt", `--give-up-after=${value}`]);
      expect(parsed.ok ? "accepted" : parsed.reason).toStartWith("--give-up-after needs seconds in 1..86400");
    }
    expect(parseClientArgs(["127.0.0.1:5000", "t.txt", "--give-up-after", "5", "--give-up-after=6"])).toEqual(
      {
        ok: false,
        reason: "--give-up-after given twice",
      },
    );
  });
});
