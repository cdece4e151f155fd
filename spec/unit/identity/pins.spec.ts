// spec/unit/identity/pins.spec.ts: pinned ids, trust on first use, and the remembered-ids file.
import { describe, expect, test } from "bun:test";
import { checkPin, formatKnown, parseKnown } from "../../../lib/identity/pins.ts";

const A = "aaaa-aaaa-aaaa-aaaa-aaaa-aaaa-aaaa-aaaa";
const B = "bbbb-bbbb-bbbb-bbbb-bbbb-bbbb-bbbb-bbbb";
const base = { label: "tracker 2 (tracker_info.txt line 3, 10.0.0.2:9001)", storePath: "d/known_trackers" };

describe("checkPin", () => {
  test("accepts the pinned id and remembers nothing", () => {
    expect(checkPin({ ...base, pinned: A }, A)).toEqual({ ok: true, remember: false });
    expect(checkPin({ ...base, pinned: A, remembered: B }, A)).toEqual({ ok: true, remember: false });
  });

  test("refuses any other key on a pinned line, naming the line and both ids", () => {
    const v = checkPin({ ...base, pinned: A, remembered: B }, B);
    expect(v.ok).toBe(false);
    if (v.ok) return;
    expect(v.reason).toContain("tracker 2 (tracker_info.txt line 3, 10.0.0.2:9001)");
    expect(v.reason).toContain(`presented id ${B}, but its line pins id ${A}`);
  });

  test("trusts the first key seen on an unpinned line and asks to remember it", () => {
    expect(checkPin(base, A)).toEqual({ ok: true, remember: true });
    expect(checkPin({ ...base, remembered: A }, A)).toEqual({ ok: true, remember: false });
  });

  test("refuses a changed key on an unpinned line and says what to do", () => {
    const v = checkPin({ ...base, remembered: A }, B);
    expect(v.ok).toBe(false);
    if (v.ok) return;
    expect(v.reason).toContain(`presented id ${B}, not the id ${A} first seen there`);
    expect(v.reason).toContain("delete its line from d/known_trackers or pin the new id");
  });
});

describe("the remembered-ids file", () => {
  test("reads back what formatKnown wrote, skipping blank, comment and malformed lines", () => {
    const text = `${formatKnown("10.0.0.1:9001", A)}\n# note\nbroken\n${formatKnown("10.0.0.2:9001", B)}x y z\n`;
    expect([...parseKnown(text)]).toEqual([
      ["10.0.0.1:9001", A],
      ["10.0.0.2:9001", B],
    ]);
  });

  test("keeps the last id written for an address", () => {
    expect(parseKnown(formatKnown("h:1", A) + formatKnown("h:1", B)).get("h:1")).toBe(B);
  });
});
