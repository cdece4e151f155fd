// spec/unit/client/tracker_link_parts.spec.ts: the client's TrackerLink against an in-process
// tracker that answers file_info in parts, slowly: the client takes a reply far over the frame
// limit, and every part restarts its reply timer, so a reply slower than the timeout but still
// arriving is not taken for a dead tracker. A reply in parts over its bound is refused.
import { afterEach, describe, expect, test } from "bun:test";
import { TrackerLink } from "../../../lib/client/tracker_link.ts";
import { TrackerTrust } from "../../../lib/identity/tracker_trust.ts";
import { encodeMessage, encodeValue } from "../../../lib/wire/codec.ts";
import { MAX_FRAME_BYTES } from "../../../lib/wire/limits.ts";
import { messageParts } from "../../../lib/wire/parts.ts";
import { TRACKER_MESSAGE_BOUNDS } from "../../../lib/wire/tracker_protocol.ts";
import { parseFileInfo } from "../../../lib/wire/tracker_replies.ts";
import { fakeTracker, stopFakeTrackers } from "../../helpers/fake_tracker.ts";
import { TEST_IDENTITY } from "../../helpers/identity.ts";
import { makeTempDir, stopAll } from "../../helpers/processes.ts";

const links: TrackerLink[] = [];

afterEach(async () => {
  for (const link of links.splice(0)) link.close();
  stopFakeTrackers();
  await stopAll();
});

const REPLY_TIMEOUT_MS = 300;

/** A tracker that answers every request with `reply(id)`, sent in parts `gapMs` apart. */
function partsTracker(reply: (id: number) => Record<string, unknown>, gapMs: number): number {
  return fakeTracker((conn, _request, id) => {
    void (async () => {
      for (const part of messageParts("reply", encodeValue(reply(id)))) {
        conn.sendFrame(encodeMessage({ t: "msg_part", ...part }));
        await Bun.sleep(gapMs);
      }
    })();
  });
}

async function linkTo(port: number): Promise<TrackerLink> {
  const link = new TrackerLink([{ no: 1, line: 1, host: "127.0.0.1", port }], () => {}, {
    identity: TEST_IDENTITY,
    trust: new TrackerTrust(await makeTempDir()),
    replyTimeoutMs: REPLY_TIMEOUT_MS,
    requestTimeoutMs: 2_000,
  });
  links.push(link);
  return link;
}

/** A file_info reply with these piece hashes. */
function fileInfoReply(id: number, pieces: Uint8Array) {
  return {
    t: "reply",
    id,
    ok: true,
    data: {
      name: "huge.iso",
      sizeBytes: (pieces.byteLength / 20) * 512 * 1024,
      sha1: new Uint8Array(20).fill(1),
      pieces,
      peers: ["127.0.0.1:9"],
      keys: { "127.0.0.1:9": "k" },
    },
  };
}

describe("TrackerLink and replies in parts", () => {
  test("takes a file_info reply over the frame limit whose parts together take longer than the reply timeout", async () => {
    const pieces = new Uint8Array(20 * 471_860).map((_, i) => (i * 7) & 0xff);
    expect(pieces.byteLength).toBeGreaterThan(MAX_FRAME_BYTES);
    // 10 parts 100 ms apart: 1 s in all, 3x the reply timeout, each part well within it.
    const link = await linkTo(partsTracker((id) => fileInfoReply(id, pieces), 100));
    const started = performance.now();
    const { reply } = await link.request({ t: "file_info", group: "g", name: "huge.iso" });
    expect(performance.now() - started).toBeGreaterThan(REPLY_TIMEOUT_MS * 2);
    expect(reply.ok).toBe(true);
    const info = parseFileInfo(reply.ok ? reply.data : {});
    expect(Buffer.compare(info.pieces, pieces)).toBe(0);
  }, 10_000);

  test("refuses a reply in parts over its bound: the request fails rather than buffering it", async () => {
    const pieces = new Uint8Array(TRACKER_MESSAGE_BOUNDS.reply + 1);
    const link = await linkTo(partsTracker((id) => fileInfoReply(id, pieces), 0));
    await expect(link.request({ t: "file_info", group: "g", name: "huge.iso" })).rejects.toThrow(
      "stopped answering",
    );
  }, 10_000);
});
