// spec/e2e/tls_hostile.spec.ts: hostile TLS handshakes against the tracker and a client's peer
// server cost that one connection: random bytes instead of a handshake, a truncated handshake,
// a handshake then garbage, a thousand silent TCP connections and a thousand idle completed
// handshakes. Meanwhile a connection opened before the attack is served, and memory stays bounded.
import { afterEach, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { connectTls, HANDSHAKE_TIMEOUT_S } from "../../lib/wire/tls.ts";
import { startClient } from "../helpers/client_process.ts";
import { makeCluster, startTrackers } from "../helpers/cluster.ts";
import { TEST_IDENTITY } from "../helpers/identity.ts";
import { stopAll } from "../helpers/processes.ts";
import { closeRawSockets, RawSocket } from "../helpers/raw_socket.ts";
import { freePort } from "../helpers/wait.ts";

afterEach(async () => {
  closeRawSockets();
  await stopAll();
});

/** VmRSS of a process, in MiB. */
function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Math.round(Number(status.match(/VmRSS:\s+(\d+) kB/)?.[1] ?? Number.NaN) / 1024);
}

/** The first flight of a real TLS 1.3 client (its ClientHello), recorded by a plain listener. */
async function clientHello(): Promise<Uint8Array> {
  let got: (bytes: Uint8Array) => void = () => {};
  const hello = new Promise<Uint8Array>((resolve) => (got = resolve));
  const listener = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      binaryType: "uint8array",
      data: (s, chunk: Uint8Array) => {
        got(new Uint8Array(chunk));
        s.end();
      },
    },
  });
  const socket = await Bun.connect({
    hostname: "127.0.0.1",
    port: listener.port,
    tls: connectTls(TEST_IDENTITY),
    socket: { data() {} },
  });
  const bytes = await hello;
  socket.terminate();
  listener.stop(true);
  return bytes;
}

/** A tracker with a logged-in witness, and a client whose peer server is the other target. */
async function targets() {
  const cluster = await makeCluster({ trackers: 1 });
  const [tracker] = await startTrackers(cluster);
  const port = cluster.slots[0]!.port;
  const witness = await RawSocket.connect({ port });
  expect(await witness.request({ t: "create_user", user: "w", pass: "pw" })).toMatchObject({ ok: true });
  const client = await startClient(cluster, { port: freePort() });
  await client.run("help"); // answered: its peer server is listening
  const peerPort = Number(client.peer.split(":")[1]);
  /** The witness is answered and a fresh handshake reaches the peer server's challenge. */
  const served = async () => {
    const started = performance.now();
    expect(await witness.request({ t: "list_groups" })).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/not logged in/),
    });
    const fresh = await RawSocket.connect({ port: peerPort });
    expect(await fresh.next(undefined, 5_000)).toMatchObject({ t: "p_challenge" });
    fresh.destroy();
    return performance.now() - started;
  };
  return { tracker: tracker!, client, port, peerPort, served };
}

describe("hostile TLS handshakes", () => {
  test("random bytes, or a handshake then garbage, cost that connection only", async () => {
    const t = await targets();
    for (const port of [t.port, t.peerPort]) {
      for (const size of [5, 300, 16_384, 65_536]) {
        const raw = await RawSocket.connect({ port, plain: true });
        const garbage = crypto.getRandomValues(new Uint8Array(size));
        garbage[0] = 0x42; // not 0x16: a random record header could announce a long record and wait for it
        raw.write(garbage);
        expect({ port, size, closed: await raw.waitClosed(3_000) }).toEqual({ port, size, closed: true });
        const secured = await RawSocket.connect({ port }); // TLS, then bytes that are no frame
        if (port === t.peerPort)
          expect(await secured.next(undefined, 3_000)).toMatchObject({ t: "p_challenge" });
        secured.write(
          Uint8Array.of(0xff, 0xff, 0xff, 0xff, ...crypto.getRandomValues(new Uint8Array(size % 1000))),
        );
        expect({ port, size, closedInside: await secured.waitClosed(3_000) }).toEqual({
          port,
          size,
          closedInside: true,
        });
      }
    }
    await t.served();
    expect(t.tracker.running && t.client.running).toBe(true);
  }, 60_000);

  test("TLS 1.2, and a client that presents no certificate, are refused before any application byte", async () => {
    const t = await targets();
    const attempt = async (port: number, tls: Record<string, unknown>) => {
      let received = 0;
      let closed: () => void = () => {};
      const done = new Promise<void>((resolve) => (closed = resolve));
      await Bun.connect({
        hostname: "127.0.0.1",
        port,
        tls,
        socket: {
          data: (_s, chunk) => {
            received += chunk.byteLength;
          },
          close: () => closed(),
          error: () => closed(),
        },
      }).catch(() => closed());
      const hungUp = await Promise.race([done.then(() => true), Bun.sleep(5_000).then(() => false)]);
      return { port, hungUp, received };
    };
    for (const port of [t.port, t.peerPort]) {
      expect(
        await attempt(port, { ...connectTls(TEST_IDENTITY), minVersion: 0x0301, maxVersion: 0x0303 }),
      ).toEqual({ port, hungUp: true, received: 0 });
      expect(await attempt(port, { rejectUnauthorized: false })).toEqual({ port, hungUp: true, received: 0 });
    }
    await t.served();
  }, 30_000);

  test(`a truncated handshake and 1,000 silent connections are closed after ${HANDSHAKE_TIMEOUT_S} s, others served meanwhile`, async () => {
    const t = await targets();
    const hello = await clientHello();
    expect(hello[0]).toBe(0x16); // a TLS handshake record
    await t.client.ok("create_user quiet pw"); // its tracker link then stays quiet throughout
    const before = { tracker: rssMiB(t.tracker.proc.pid), client: rssMiB(t.client.proc.pid) };
    const truncated = await Promise.all(
      [t.port, t.peerPort].map((port) => RawSocket.connect({ port, plain: true })),
    );
    for (const raw of truncated) raw.write(hello.subarray(0, Math.floor(hello.byteLength / 2)));
    const silent = await Promise.all(
      Array.from({ length: 1_000 }, (_, i) =>
        RawSocket.connect({ port: i % 2 ? t.peerPort : t.port, plain: true }),
      ),
    );
    const started = Date.now();
    const during = await t.served();
    const all = [...truncated, ...silent];
    await Promise.all(all.map((raw) => raw.waitClosed((HANDSHAKE_TIMEOUT_S + 8) * 1_000)));
    const closedAfterS = (Date.now() - started) / 1_000;
    const after = { tracker: rssMiB(t.tracker.proc.pid), client: rssMiB(t.client.proc.pid) };
    console.log(
      `1,002 connections without a handshake: all closed ${closedAfterS.toFixed(1)} s after opening; served meanwhile in ${during.toFixed(1)} ms; RSS MiB before ${JSON.stringify(before)}, after ${JSON.stringify(after)}`,
    );
    expect(all.filter((raw) => !raw.closed).length).toBe(0);
    expect(closedAfterS).toBeGreaterThan(HANDSHAKE_TIMEOUT_S - 3); // the timeout closed them, not an error
    await t.served();
    expect(after.tracker - before.tracker).toBeLessThan(64);
    expect(after.client - before.client).toBeLessThan(64);
    // A verified link is not held to the handshake's deadline: the quiet tracker link is still up.
    expect(t.client.stderr.text()).not.toContain("closing connection");
    expect((await t.tracker.status()).line).toContain("clients=2"); // the witness and the client
  }, 60_000);

  test("1,000 idle completed handshakes leave the tracker and a peer server serving, with bounded memory", async () => {
    const t = await targets();
    const before = { tracker: rssMiB(t.tracker.proc.pid), client: rssMiB(t.client.proc.pid) };
    const idle: RawSocket[] = [];
    for (let i = 0; i < 10; i++)
      idle.push(
        ...(await Promise.all(
          Array.from({ length: 100 }, (_, j) => RawSocket.connect({ port: j % 2 ? t.peerPort : t.port })),
        )),
      );
    expect(idle.filter((raw) => raw.closed || raw.server === undefined).length).toBe(0);
    const during = await t.served();
    const after = { tracker: rssMiB(t.tracker.proc.pid), client: rssMiB(t.client.proc.pid) };
    console.log(
      `1,000 idle handshakes (500 each): served in ${during.toFixed(1)} ms; RSS MiB before ${JSON.stringify(before)}, after ${JSON.stringify(after)}`,
    );
    expect(after.tracker - before.tracker).toBeLessThan(64);
    expect(after.client - before.client).toBeLessThan(64);
  }, 60_000);
});
