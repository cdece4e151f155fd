// spec/unit/web/command_body.spec.ts: a page command's body, checked, and its log line.
import { describe, expect, test } from "bun:test";
import { commandLine, commandLogLine, parseCommandBody } from "../../../lib/web/command_body.ts";

describe("parseCommandBody", () => {
  test("reads a command and its one-word arguments", () => {
    expect(parseCommandBody('{"command":"accept_request","args":["g","bob"]}')).toEqual({
      ok: true,
      command: { name: "accept_request", args: ["g", "bob"] },
    });
  });

  test("refuses what the terminal could not have typed, in one line each", () => {
    for (const [body, error] of [
      ["{", "the page command is not JSON"],
      ["[]", "the page command is not an object"],
      ['{"command":"Create Group","args":[]}', "the page command names no command"],
      ['{"args":[]}', "the page command names no command"],
      ['{"command":"create_group","args":"g"}', "the page command's arguments are not a list of strings"],
      ['{"command":"create_group","args":[1]}', "the page command's arguments are not a list of strings"],
      [
        '{"command":"create_group","args":["1","2","3","4","5","6","7","8","9"]}',
        "the page command's arguments are not a list of strings",
      ],
      ['{"command":"create_group","args":[""]}', "create_group: fill in every field"],
      [
        '{"command":"create_group","args":["a\\tb"]}',
        '"a\tb" contains spaces: commands take one word per argument',
      ],
      ['{"command":"quit","args":[]}', "quit is a terminal command: type it there"],
      ['{"command":"exit","args":[]}', "exit is a terminal command: type it there"],
    ] as const)
      expect({ body, r: parseCommandBody(body) }).toEqual({ body, r: { ok: false, error } });
  });
});

describe("commandLine and commandLogLine", () => {
  test("give the terminal's line, and log it without passwords", () => {
    expect(commandLine({ name: "download_file", args: ["g", "f", "/tmp"] })).toBe("download_file g f /tmp");
    expect(commandLogLine({ name: "download_file", args: ["g", "f", "/tmp"] })).toBe(
      "web: download_file g f /tmp",
    );
    expect(commandLogLine({ name: "login", args: ["alice", "s3cret"] })).toBe("web: login alice ***");
    expect(commandLogLine({ name: "create_user", args: ["bob", "pw"] })).toBe("web: create_user bob ***");
  });
});
