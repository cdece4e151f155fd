// The soak's end checks: downloads finish and match their sources, the trackers agree, and
// every acknowledged operation is visible through every tracker (bench/soak_audit.ts).

import { messageOf } from "../lib/errors.ts";
import { type Cluster, settle } from "../spec/helpers/cluster.ts";
import type { TrackerProcess } from "../spec/helpers/tracker_process.ts";
import { audit, pinnedClient } from "./soak_audit.ts";
import type { SoakReport } from "./soak_report.ts";
import type { Actor, DownloadRecord, Ledger } from "./soak_workload.ts";

/** How long the trackers may take to agree at a checkpoint before it counts as a divergence. */
export const CONVERGE_TIMEOUT_MS = 30_000;
/** How long running downloads get to finish once everything is healed (one of ~1.5 MiB takes ms). */
const UNFINISHED_WAIT_MS = 5_000;

/** How many trackers hold a digest other than the most common one. */
export async function digestDivergence(trackers: TrackerProcess[]): Promise<number> {
  const digests = await Promise.all(
    trackers
      .filter((t) => t.running)
      .map((t) =>
        t.status().then(
          (s) => s.digest,
          () => "?",
        ),
      ),
  );
  const counts = new Map<string, number>();
  for (const d of digests) counts.set(d, (counts.get(d) ?? 0) + 1);
  return digests.length - Math.max(...counts.values());
}

/** Actors that certainly share a complete copy of `d`'s file in its group right now, as "user (how)". */
async function liveCopies(d: DownloadRecord, actors: Actor[], ledger: Ledger): Promise<string[]> {
  const out: string[] = [];
  const upload = ledger.uploads.get(d.name);
  for (const a of actors) {
    if (a.user === d.actor || !a.alive) continue;
    const uploaded = upload?.acked === true && upload.uploader === a.user && upload.group === d.group;
    // Its latest download of the file (an earlier copy was unshared before it fetched again).
    const latest = ledger.downloads.findLast(
      (x) => x.actor === a.user && x.group === d.group && x.name === d.name,
    );
    const downloaded = latest?.state === "C" && latest.verified && latest.unshared !== true;
    if ((uploaded || downloaded) && (await a.member(d.group)))
      out.push(`${a.user} (${uploaded ? "uploader" : "downloaded it"})`);
  }
  return out;
}

/** After the final checkpoint: downloads finish and are verified, then the audit through every tracker. */
export async function finalChecks(o: {
  cluster: Cluster;
  actors: Actor[];
  ledger: Ledger;
  report: SoakReport;
  trackers: TrackerProcess[];
}): Promise<void> {
  const { cluster, actors, ledger, report } = o;
  // Every actor logged in again (uploads re-shared), then downloads get time to finish.
  for (const a of actors) {
    if (!a.alive) continue;
    const who = await a.client.run("whoami").catch(() => undefined);
    if (who?.out.some((l) => l.startsWith("not logged in"))) await a.login();
  }
  const deadline = Date.now() + UNFINISHED_WAIT_MS;
  while (Date.now() < deadline && ledger.downloads.some((d) => d.state === "D")) {
    for (const a of actors) if (a.alive) await a.pollDownloads();
    await Bun.sleep(300);
  }
  // A destination holds only a complete, verified file: whatever is there must be the source.
  for (const d of ledger.downloads) {
    const actor = actors.find((a) => a.user === d.actor)!;
    if (d.state === "C") await actor.verify(d);
    else if (await Bun.file(d.dest).exists()) {
      d.state = "C"; // there, though never seen [C]: it must be right all the same
      await actor.verify(d);
    }
  }
  for (const d of ledger.downloads.filter((x) => x.state === "D")) {
    const downloader = actors.find((a) => a.user === d.actor)!;
    const line = await downloader.describe(d);
    // A complete copy live for certain: an actor whose client runs, still a member of the
    // group (logged in again above), that shares the whole file: its uploader, or one that
    // completed and verified a download of it and never ran stop_share on it. And the
    // downloader is still a member, so the tracker tells it who shares the file.
    const sources = await liveCopies(d, actors, ledger);
    if (sources.length > 0 && downloader.alive && (await downloader.member(d.group))) {
      // The sources' side too: where they serve from and what they said about the file.
      const views: string[] = [];
      for (const a of actors)
        if (sources.some((s) => s.startsWith(`${a.user} `))) views.push(await a.asSource(d));
      report.couldProgress.push(
        `could progress and did not (${sources.join(", ")} live): ${line}; the sources: ${views.join(" || ")}`,
      );
    } else {
      // Whoever else said something about the file: a listed sharer that refuses it, and why.
      const views: string[] = [];
      for (const a of actors)
        if (
          a !== downloader &&
          a.alive &&
          a.client.stderr.lines.some((l) => l.includes(`${d.group}/${d.name}`))
        )
          views.push(await a.asSource(d));
      report.notes.push(
        `unfinished, no complete copy known live (still [D] 5 s after the final heal): ${line}${views.length > 0 ? `; others: ${views.join(" || ")}` : ""}`,
      );
    }
  }
  await settle(cluster, { timeoutMs: CONVERGE_TIMEOUT_MS }).catch(async (err) => {
    report.divergences.digests += await digestDivergence(o.trackers);
    report.details.push(`after the downloads: ${messageOf(err)}`);
  });

  const result = await audit(cluster, ledger.accounts, { everyMemberAudited: true });
  report.divergences.views = result.mismatches.length;
  report.divergences.invariants = result.breaches.length;
  report.details.push(...result.mismatches.slice(0, 20), ...result.breaches.slice(0, 20));
  for (const view of result.views) {
    const at = `tracker ${view.tracker}`;
    for (const a of ledger.accounts)
      if (!view.loggedIn.has(a.user)) report.lostAcks.push(`${at}: user ${a.user} cannot log in`);
    for (const [g, creator] of ledger.stableGroups) {
      const shown = view.groups.get(g);
      if (shown?.owner !== creator)
        report.lostAcks.push(
          `${at}: group ${g} created by ${creator}: ${shown ? `owner=${shown.owner}` : "missing"}`,
        );
    }
    for (const u of ledger.uploads.values()) {
      if (!u.mustStay) continue;
      const files = view.files.get(u.group) ?? [];
      if (!files.some((l) => l.startsWith(`${u.name} `)))
        report.lostAcks.push(`${at}: ${u.name} uploaded by ${u.uploader} to ${u.group} is not listed`);
    }
  }
  // Conflicting create_user: one of the versions exists on every tracker (this creates nothing
  // unless the user was lost, which is reported).
  for (const s of cluster.slots) {
    const pinned = await pinnedClient(cluster, s.no);
    for (const u of [...ledger.conflictUsers].sort()) {
      const r = await pinned.run(`create_user ${u} audit-probe`);
      if (!r.err.some((e) => e.includes("already exists")))
        report.lostAcks.push(
          `tracker ${s.no}: user ${u} (create_user printed success) is missing: ${[...r.out, ...r.err].join(" ")}`,
        );
    }
    await pinned.close().catch(() => pinned.stop());
  }
}
