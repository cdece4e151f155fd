// spec/unit/config.spec.ts: tracker_info.txt parsing, accepted forms and every refusal naming its line.
import { describe, expect, test } from "bun:test";
import {
  addressNodeId,
  formatAddress,
  MAX_NODE_ID,
  MIN_NODE_ID,
  nodeIdOf,
  parseAddress,
  parseTrackerInfo,
  requirePins,
} from "../../lib/config.ts";
import { ConfigError, messageOf } from "../../lib/errors.ts";

/** A well-formed id (any 32 base32 characters are one). */
const ID = "abcd-efgh-ijkl-mnop-qrst-uvwx-yz23-4567";
/** Another one (two lines pinning one id would be one tracker twice: refused). */
const ID2 = "zzzz-yyyy-xxxx-wwww-vvvv-uuuu-tttt-ssss";

/** Runs `fn`, expects a ConfigError and returns its message. */
function configErrorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return messageOf(err);
  }
  throw new Error("expected a ConfigError, but nothing was thrown");
}

describe("parseTrackerInfo", () => {
  test("accepts IP PORT", () => {
    expect(parseTrackerInfo("127.0.0.1 9001")).toEqual([{ no: 1, line: 1, host: "127.0.0.1", port: 9001 }]);
  });

  test("accepts IP:PORT", () => {
    expect(parseTrackerInfo("127.0.0.1:9001\n")).toEqual([{ no: 1, line: 1, host: "127.0.0.1", port: 9001 }]);
  });

  test("accepts both forms in one file, with tabs, runs of spaces and surrounding whitespace", () => {
    const text = "  10.0.0.1\t9001  \n10.0.0.2    9002\n\t10.0.0.3:9003\t\n";
    expect(parseTrackerInfo(text)).toEqual([
      { no: 1, line: 1, host: "10.0.0.1", port: 9001 },
      { no: 2, line: 2, host: "10.0.0.2", port: 9002 },
      { no: 3, line: 3, host: "10.0.0.3", port: 9003 },
    ]);
  });

  test("skips comments, indented comments, blank and whitespace-only lines", () => {
    const text = "# trackers\n\n   \n127.0.0.1 9001\n  # the second one\n\t\n127.0.0.1:9002\n# end";
    expect(parseTrackerInfo(text)).toEqual([
      { no: 1, line: 4, host: "127.0.0.1", port: 9001 },
      { no: 2, line: 7, host: "127.0.0.1", port: 9002 },
    ]);
  });

  test("accepts CRLF line endings", () => {
    const text = "# windows\r\n127.0.0.1 9001\r\n\r\n127.0.0.1:9002\r\n";
    expect(parseTrackerInfo(text)).toEqual([
      { no: 1, line: 2, host: "127.0.0.1", port: 9001 },
      { no: 2, line: 4, host: "127.0.0.1", port: 9002 },
    ]);
  });

  test("accepts a UTF-8 byte order mark before the first line", () => {
    expect(parseTrackerInfo("\uFEFF127.0.0.1 9001\n")).toEqual([
      { no: 1, line: 1, host: "127.0.0.1", port: 9001 },
    ]);
  });

  for (const count of [1, 2, 3, 4, 5, 7]) {
    test(`numbers ${count} tracker(s) 1..${count} in file order`, () => {
      const lines = Array.from({ length: count }, (_, i) =>
        i % 2 === 0 ? `127.0.0.${i + 1} ${9100 - i}` : `127.0.0.${i + 1}:${9100 - i}`,
      );
      const info = parseTrackerInfo(`# header\n${lines.join("\n\n")}\n`);
      expect(info.map((t) => t.no)).toEqual(Array.from({ length: count }, (_, i) => i + 1));
      expect(info.map((t) => `${t.host}:${t.port}`)).toEqual(
        Array.from({ length: count }, (_, i) => `127.0.0.${i + 1}:${9100 - i}`),
      );
    });
  }

  test("accepts the port bounds 1 and 65535", () => {
    expect(parseTrackerInfo("127.0.0.1 1\n127.0.0.1:65535").map((t) => t.port)).toEqual([1, 65535]);
  });

  test("allows the same host on different ports and the same port on different hosts", () => {
    const info = parseTrackerInfo("127.0.0.1 9001\n127.0.0.1 9002\n127.0.0.2 9001");
    expect(info).toHaveLength(3);
  });

  const malformed: [string, string, number, RegExp][] = [
    ["port 0", "127.0.0.1 9001\n127.0.0.1 0", 2, /port "0"/],
    ["port 65536", "127.0.0.1:65536", 1, /port "65536"/],
    ["port abc", "# c\n127.0.0.1 abc", 2, /port "abc"/],
    ["a negative port", "127.0.0.1 -5", 1, /port "-5"/],
    ["a fractional port", "127.0.0.1:90.5", 1, /port "90\.5"/],
    ["a missing port", "127.0.0.1 9001\n\n127.0.0.1", 3, /expected "IP PORT" or "IP:PORT"/],
    ["an empty port after the colon", "127.0.0.1:", 1, /port ""/],
    ["an IP octet of 256", "256.1.1.1 9001", 1, /"256\.1\.1\.1" is not an IPv4 address/],
    ["an IP octet of 999 in IP:PORT form", "# x\n# y\n10.0.999.1:9001", 3, /"10\.0\.999\.1"/],
    ["a third field that is not an id", "127.0.0.1 9001 9002", 1, /"9002" is not a tracker id/],
    ["an id one character short", `127.0.0.1:9001 ${ID.slice(0, -1)}`, 1, /is not a tracker id/],
    ["four fields", `127.0.0.1 9001 ${ID} x`, 1, /expected "IP PORT" or "IP:PORT"/],
    [
      "a duplicate line",
      "127.0.0.1 9001\n127.0.0.2 9002\n127.0.0.1 9001",
      3,
      /duplicate tracker "127\.0\.0\.1:9001"/,
    ],
    ["a duplicate written in the other form", "127.0.0.1 9001\r\n127.0.0.1:9001\r\n", 2, /duplicate/],
  ];
  for (const [what, text, line, detail] of malformed) {
    test(`refuses ${what} with a ConfigError naming line ${line}`, () => {
      const message = configErrorOf(() => parseTrackerInfo(text));
      expect(message).toContain(`line ${line}`);
      expect(message).toMatch(detail);
    });
  }

  test("counts comment and blank lines when naming the line", () => {
    const message = configErrorOf(() => parseTrackerInfo("# a\n\n# b\n\n\n127.0.0.1 0\n"));
    expect(message).toContain("line 6");
  });

  test("refuses an empty file with a ConfigError", () => {
    expect(configErrorOf(() => parseTrackerInfo(""))).toMatch(/no tracker/);
  });

  test("refuses a file of only comments and blank lines with a ConfigError", () => {
    expect(configErrorOf(() => parseTrackerInfo("# nothing\n\n   \r\n# here\n"))).toMatch(/no tracker/);
  });
});

describe("tracker ids on tracker_info.txt lines", () => {
  test("accepts IP PORT ID and IP:PORT ID, in any case and with or without dashes", () => {
    const bare = ID2.replaceAll("-", "").toUpperCase();
    expect(parseTrackerInfo(`127.0.0.1 9001 ${ID}\n127.0.0.1:9002 ${bare}\n127.0.0.1 9003`)).toEqual([
      { no: 1, line: 1, host: "127.0.0.1", port: 9001, id: ID },
      { no: 2, line: 2, host: "127.0.0.1", port: 9002, id: ID2 },
      { no: 3, line: 3, host: "127.0.0.1", port: 9003 },
    ]);
  });

  test("--strict refuses the first line without an id, naming it, and skips the tracker's own line", () => {
    const info = parseTrackerInfo(`127.0.0.1 9001\n# x\n127.0.0.1 9002 ${ID}\n127.0.0.1 9003`);
    expect(configErrorOf(() => requirePins(info))).toMatch(
      /^tracker_info.txt line 1 \(127.0.0.1:9001\) has no id/,
    );
    expect(configErrorOf(() => requirePins(info, 1))).toMatch(/line 4 .*--strict.*tracker_info.txt 3 --id/);
    expect(() => requirePins(parseTrackerInfo(`127.0.0.1 9001\n127.0.0.1 9002 ${ID}`), 1)).not.toThrow();
  });
});

describe("node ids", () => {
  const ids = (text: string) => new Map(parseTrackerInfo(text).map((t) => [formatAddress(t), nodeIdOf(t)]));

  test("a line keeps its node id when lines above it are removed or the lines are reordered", () => {
    const three = ids("10.0.0.1 9001\n10.0.0.2 9001\n10.0.0.3 9001\n");
    const two = ids("10.0.0.3 9001\n# line 2 removed\n10.0.0.1 9001\n");
    expect(two.get("10.0.0.1:9001")).toBe(three.get("10.0.0.1:9001")!);
    expect(two.get("10.0.0.3:9001")).toBe(three.get("10.0.0.3:9001")!);
    expect(new Set(three.values()).size).toBe(3);
  });

  test("are 32-bit numbers above every line number earlier versions used as ids", () => {
    for (let port = 1; port <= 2_000; port++) {
      const id = nodeIdOf({ host: "127.0.0.1", port });
      expect(id >= MIN_NODE_ID && id <= MAX_NODE_ID && Number.isInteger(id)).toBe(true);
    }
  });

  test("a pinned line's id comes from its key id, whatever address reaches it; host case does not matter", () => {
    const here = parseTrackerInfo(`10.0.0.1 9001 ${ID}`)[0]!;
    const relayed = parseTrackerInfo(`127.0.0.1:7777 ${ID.toUpperCase()}`)[0]!;
    expect(nodeIdOf(relayed)).toBe(nodeIdOf(here));
    expect(nodeIdOf(here)).not.toBe(addressNodeId(here));
    expect(nodeIdOf({ host: "Tracker.Example", port: 1 })).toBe(
      nodeIdOf({ host: "tracker.example", port: 1 }),
    );
  });

  test("refuses a file where two lines would share one node id, naming both lines", () => {
    // Found by search over ports: these two addresses' ids collide.
    expect(configErrorOf(() => parseTrackerInfo("127.0.0.2:38701\n# x\n127.0.0.2:39138\n"))).toBe(
      "tracker_info.txt lines 1 (127.0.0.2:38701) and 3 (127.0.0.2:39138) give the same node id 2105151182: change the port of one of them",
    );
    expect(configErrorOf(() => parseTrackerInfo(`10.0.0.1 9001 ${ID}\n10.0.0.2 9001 ${ID}\n`))).toMatch(
      /^tracker_info.txt lines 1 \(10.0.0.1:9001\) and 2 \(10.0.0.2:9001\) give the same node id \d+: they pin the same tracker id/,
    );
    expect(configErrorOf(() => parseTrackerInfo("Localhost 9001\nlocalhost 9001\n"))).toMatch(
      /^tracker_info.txt lines 1 \(Localhost:9001\) and 2 \(localhost:9001\) give the same node id/,
    );
  });
});

describe("parseAddress", () => {
  test("parses IP:PORT and IP PORT alike", () => {
    expect(parseAddress("127.0.0.1:9001", "argv")).toEqual({ host: "127.0.0.1", port: 9001 });
    expect(parseAddress("127.0.0.1 9001", "argv")).toEqual({ host: "127.0.0.1", port: 9001 });
  });

  test("prefixes its errors with where", () => {
    const message = configErrorOf(() => parseAddress("127.0.0.1:0", "client address"));
    expect(message.startsWith("client address: ")).toBe(true);
  });

  test("round-trips through formatAddress", () => {
    expect(formatAddress(parseAddress("10.1.2.3:65535", "x"))).toBe("10.1.2.3:65535");
  });
});
