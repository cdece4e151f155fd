// Turns the suites' raw runs into the figures of the table: each a median with min and max,
// ours beside its reference, and the targets with a verdict. Pure: no I/O.
import { mapSummary, type Summary, summarize } from "./stats.ts";
import type { TrackerResult } from "./tracker_bench.ts";
import type { TransferResult } from "./transfer_bench.ts";

const MIB = 2 ** 20;
const GIB = 2 ** 30;

/** The targets. */
export const TARGETS = {
  downloadRatio: 0.3,
  uploadSecondsPerGiB: 0.8,
  leecherRssMiB: 64,
  lagP99Ms: 50,
  trackerOpsPerSecond: 20_000,
  trackerP99Ms: 5,
} as const;

/** One row of the table. */
export interface Figure {
  section: string;
  name: string;
  unit: string;
  ours?: Summary;
  reference?: Summary;
  /** What the reference column is (aria2c, sha1sum, ...). */
  refName?: string;
  /** ours.median / reference.median, when both exist and are comparable. */
  ratio?: number;
  /** The reference column holds a second figure of ours (a p99, tracker 2), not a reference. */
  noRatio?: boolean;
  target?: string;
  pass?: boolean;
}

export interface FigureInput {
  sizeBytes: number;
  transfers?: TransferResult | undefined;
  tracker?: TrackerResult | undefined;
  startup?: { trackerS: number[]; clientS: number[] } | undefined;
  clients: number;
  logins: number;
}

export function buildFigures(input: FigureInput): Figure[] {
  const rows: Figure[] = [];
  const add = (f: Figure) => {
    if (f.ours && f.reference && !f.noRatio) f.ratio = f.ours.median / f.reference.median;
    rows.push(f);
  };
  const { sizeBytes, transfers: t, tracker: k, startup } = input;
  const mibps = (s: number) => sizeBytes / MIB / s;

  if (t) {
    const sec = `Transfers of one ${(sizeBytes / MIB).toFixed(0)} MiB random file (512 KiB pieces; ours: download_file to [C]; aria2c: spawn to its download-complete hook)`;
    for (const sc of t.scenarios) {
      const tag = `${sc.seeders} seeder${sc.seeders > 1 ? "s" : ""} -> 1 leecher`;
      const ours = summarize(sc.ours.map((r) => r.seconds));
      const ref = summarize(sc.reference.map((r) => r.seconds));
      const f: Figure = {
        section: sec,
        name: `download ${tag}: time`,
        unit: "s",
        ours,
        reference: ref,
        refName: "aria2c",
      };
      f.target = `<= ${TARGETS.downloadRatio.toFixed(2)}x aria2c`;
      f.pass = ours.median / ref.median <= TARGETS.downloadRatio;
      add(f);
      add({
        section: sec,
        name: `download ${tag}: throughput`,
        unit: "MiB/s",
        ours: mapSummary(ours, mibps),
        reference: mapSummary(ref, mibps),
        refName: "aria2c",
      });
      const rss = summarize(sc.ours.map((r) => r.peakRssBytes / MIB));
      add({
        section: sec,
        name: `download ${tag}: leecher peak RSS`,
        unit: "MiB",
        ours: rss,
        reference: summarize(sc.reference.map((r) => r.peakRssBytes / MIB)),
        refName: "aria2c",
        target: `< ${TARGETS.leecherRssMiB} MiB`,
        pass: rss.median < TARGETS.leecherRssMiB,
      });
      const base = sc.ours.map((r) => r.baselineRssBytes ?? NaN);
      if (base.every(Number.isFinite))
        add({
          section: sec,
          name: `  (ours: leecher VmHWM before download_file)`,
          unit: "MiB",
          ours: summarize(base.map((b) => b / MIB)),
        });
      const exits = sc.reference.map((r) => r.exitSeconds ?? NaN);
      if (exits.every(Number.isFinite))
        add({
          section: sec,
          name: `  (aria2c: spawn to exit, ~1 s after completing)`,
          unit: "s",
          reference: summarize(exits),
          refName: "aria2c",
        });
      const said = sc.ours.map((r) => r.reportedSeconds ?? NaN);
      if (said.every(Number.isFinite))
        add({ section: sec, name: `  (ours: time the [C] line reports)`, unit: "s", ours: summarize(said) });
    }

    const m = `Machine limits on the same file (page cache warm) and ours against them`;
    const sha1sum = summarize(t.machine.sha1sumS);
    const tcp = summarize(t.machine.tcpCopyS);
    const dd = summarize(t.machine.diskWriteS);
    add({
      section: m,
      name: "sha1sum",
      unit: "s",
      reference: sha1sum,
      refName: `${mibps(sha1sum.median).toFixed(0)} MiB/s`,
    });
    add({
      section: m,
      name: "loopback TCP copy (2 processes)",
      unit: "s",
      reference: tcp,
      refName: `${mibps(tcp.median).toFixed(0)} MiB/s`,
    });
    add({
      section: m,
      name: "disk write (dd, page cache)",
      unit: "s",
      reference: dd,
      refName: `${mibps(dd.median).toFixed(0)} MiB/s`,
    });
    const ddSync = summarize(t.machine.diskWriteSyncS);
    add({
      section: m,
      name: "disk write (dd + fdatasync)",
      unit: "s",
      reference: ddSync,
      refName: `${mibps(ddSync.median).toFixed(0)} MiB/s`,
    });
    const one = t.scenarios.find((s) => s.seeders === 1);
    if (one) {
      const ours = summarize(one.ours.map((r) => r.seconds));
      add({
        section: m,
        name: "ours 1->1 download vs loopback TCP copy",
        unit: "s",
        ours,
        reference: tcp,
        refName: "TCP copy",
      });
      add({
        section: m,
        name: "ours 1->1 download vs disk write",
        unit: "s",
        ours,
        reference: dd,
        refName: "dd",
      });
      add({
        section: m,
        name: "ours 1->1 download vs sha1sum",
        unit: "s",
        ours,
        reference: sha1sum,
        refName: "sha1sum",
      });
    }

    const u = `upload_file (whole-file and per-piece SHA-1, share at the tracker; client round trip)`;
    const upload = summarize(t.uploadS);
    const limit = (TARGETS.uploadSecondsPerGiB * sizeBytes) / GIB;
    add({
      section: u,
      name: "upload_file vs sha1sum",
      unit: "s",
      ours: upload,
      reference: sha1sum,
      refName: "sha1sum",
      target: `< ${limit.toFixed(3)} s (${TARGETS.uploadSecondsPerGiB} s/GiB)`,
      pass: upload.median < limit,
    });
    add({
      section: u,
      name: "upload_file throughput",
      unit: "MiB/s",
      ours: mapSummary(upload, mibps),
      reference: mapSummary(sha1sum, mibps),
      refName: "sha1sum",
    });
  }

  if (k) {
    const s = `Tracker: ${input.clients} simulated clients on tracker 1 (40% list_groups, 40% list_files, 20% join_group/leave_group, writes replicated to tracker 2)`;
    const ops = summarize(k.steady.map((r) => r.opsPerSecond));
    add({
      section: s,
      name: "closed loop (no think time): simple ops per second",
      unit: "ops/s",
      ours: ops,
      target: `>= ${TARGETS.trackerOpsPerSecond}`,
      pass: ops.median >= TARGETS.trackerOpsPerSecond,
    });
    add({
      section: s,
      name: "  closed loop latency p50 / p99 (mostly queueing)",
      unit: "ms",
      ours: summarize(k.steady.map((r) => r.all.p50Ms)),
      reference: summarize(k.steady.map((r) => r.all.p99Ms)),
      refName: "(p99)",
      noRatio: true,
    });
    add({
      section: s,
      name: "  closed loop CPU: tracker 1 / tracker 2",
      unit: "% core",
      ours: summarize(k.cpu.map((c) => c.tracker1)),
      reference: summarize(k.cpu.map((c) => c.tracker2)),
      refName: "(tracker 2)",
      noRatio: true,
    });
    add({
      section: s,
      name: "  closed loop CPU: load generator (this process)",
      unit: "% core",
      ours: summarize(k.cpu.map((c) => c.loadGenerator)),
    });
    const rate = k.pacedRate;
    add({
      section: s,
      name: `paced at ${rate} ops/s offered: achieved`,
      unit: "ops/s",
      ours: summarize(k.paced.map((r) => r.opsPerSecond)),
    });
    add({
      section: s,
      name: `paced: latency p50`,
      unit: "ms",
      ours: summarize(k.paced.map((r) => r.all.p50Ms)),
    });
    const p99 = summarize(k.paced.map((r) => r.all.p99Ms));
    add({
      section: s,
      name: `paced: latency p99`,
      unit: "ms",
      ours: p99,
      target: `< ${TARGETS.trackerP99Ms} ms`,
      pass: p99.median < TARGETS.trackerP99Ms,
    });
    for (const kind of ["list_groups", "list_files", "join_group", "leave_group"]) {
      add({
        section: s,
        name: `  paced ${kind} p50 / p99`,
        unit: "ms",
        ours: summarize(k.paced.map((r) => r.byKind[kind]!.p50Ms)),
        reference: summarize(k.paced.map((r) => r.byKind[kind]!.p99Ms)),
        refName: "(p99)",
        noRatio: true,
      });
    }
    add({
      section: s,
      name: "  paced: sends over 1 ms behind schedule",
      unit: "%",
      ours: summarize(k.paced.map((r) => 100 * r.behindSchedule)),
    });
    add({
      section: s,
      name: "  paced CPU: tracker 1 / tracker 2",
      unit: "% core",
      ours: summarize(k.cpuPaced.map((c) => c.tracker1)),
      reference: summarize(k.cpuPaced.map((c) => c.tracker2)),
      refName: "(tracker 2)",
      noRatio: true,
    });
    add({
      section: s,
      name: "failed requests per run (closed + paced)",
      unit: "",
      ours: summarize(k.steady.map((r, i) => r.failures + k.paced[i]!.failures)),
    });
    add({
      section: s,
      name: `login: ${input.logins} at once, logins per second`,
      unit: "/s",
      ours: summarize(k.logins.map((l) => l.perSecond)),
    });
    add({
      section: s,
      name: "login: latency p50 / p99",
      unit: "ms",
      ours: summarize(k.logins.map((l) => l.p50Ms)),
      reference: summarize(k.logins.map((l) => l.p99Ms)),
      refName: "(p99)",
      noRatio: true,
    });

    const r = `Replication: create_group acked by tracker 1 -> list_requests ok at tracker 2 (upper bound, see replication_lag.ts)`;
    for (const [label, runs] of [
      ["idle", k.lagIdle],
      [`under the paced load`, k.lagUnderLoad],
    ] as const) {
      add({ section: r, name: `lag p50, ${label}`, unit: "ms", ours: summarize(runs.map((x) => x.p50Ms)) });
      const lagP99 = summarize(runs.map((x) => x.p99Ms));
      add({
        section: r,
        name: `lag p99, ${label}`,
        unit: "ms",
        ours: lagP99,
        target: `< ${TARGETS.lagP99Ms} ms`,
        pass: lagP99.median < TARGETS.lagP99Ms,
      });
      add({
        section: r,
        name: `  samples per run, ${label} (seen before the ack)`,
        unit: "",
        ours: summarize(runs.map((x) => x.samples)),
        reference: summarize(runs.map((x) => x.beforeAck)),
        refName: "(before ack)",
        noRatio: true,
      });
    }
    add({
      section: r,
      name: "  probe round trip at tracker 2, idle (resolution)",
      unit: "ms",
      ours: summarize(k.lagIdle.map((x) => x.probeRttP50Ms)),
    });
  }

  if (startup) {
    const st = "Start-up of the compiled binaries";
    add({
      section: st,
      name: "./tracker: spawn to its `listening` line",
      unit: "ms",
      ours: summarize(startup.trackerS.map((x) => x * 1000)),
    });
    add({
      section: st,
      name: "./client: spawn to answering `help whoami` (piped: no prompt)",
      unit: "ms",
      ours: summarize(startup.clientS.map((x) => x * 1000)),
    });
  }
  return rows;
}
