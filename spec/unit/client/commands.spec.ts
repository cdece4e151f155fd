import { describe, expect, test } from "bun:test";
import { COMMANDS, isCommandName, parseCommand, usage } from "../../../lib/client/commands.ts";

describe("parseCommand", () => {
  test("ignores blank lines", () => {
    expect(parseCommand("")).toBeUndefined();
    expect(parseCommand("   \t ")).toBeUndefined();
  });

  test("splits words on any whitespace", () => {
    expect(parseCommand("  accept_request\tg1   u2 ")).toEqual({
      ok: true,
      command: { name: "accept_request", args: ["g1", "u2"] },
    });
  });

  test("reads exit as quit", () => {
    expect(parseCommand("exit")).toEqual({ ok: true, command: { name: "quit", args: [] } });
  });

  test("names an unknown command and points at help", () => {
    expect(parseCommand("frobnicate x")).toEqual({
      ok: false,
      reason: 'unknown command "frobnicate": type help for the list of commands',
    });
  });

  test("answers too few or too many arguments with the usage", () => {
    for (const name of Object.keys(COMMANDS).filter(isCommandName)) {
      const required = COMMANDS[name].args.filter((a) => !a.startsWith("[")).length;
      const tooMany = Array.from({ length: COMMANDS[name].args.length + 1 }, (_, i) => `a${i}`);
      expect(parseCommand([name, ...tooMany].join(" "))).toEqual({
        ok: false,
        reason: `usage: ${usage(name)}`,
      });
      if (required > 0) expect(parseCommand(name)).toEqual({ ok: false, reason: `usage: ${usage(name)}` });
    }
  });

  test("refuses ids and file names that could escape a directory or garble a terminal", () => {
    expect(parseCommand("create_group ../etc")).toMatchObject({ ok: false });
    expect(parseCommand("download_file g ../x /tmp")).toMatchObject({ ok: false });
    expect(parseCommand("join_group a\u0007b")).toMatchObject({ ok: false });
    expect(parseCommand(`create_user ${"u".repeat(256)} pw`)).toMatchObject({ ok: false });
  });

  test("accepts unicode ids and any destination path", () => {
    expect(parseCommand("create_group café")).toEqual({
      ok: true,
      command: { name: "create_group", args: ["café"] },
    });
    expect(parseCommand("download_file g f.bin ../../tmp/out")).toMatchObject({ ok: true });
  });
});
