// Reads the replicated state back through every tracker, the way a user sees it (list_groups,
// list_files, list_requests, login), compares what each tracker shows and checks the README's
// invariants on it. Changes nothing but the auditing clients' own sessions.
import { type ClientProcess, startClient } from "../spec/helpers/client_process.ts";
import { type Cluster, writeClientInfo } from "../spec/helpers/cluster.ts";

/** A user the audit logs in as; `deep` users also have every group looked at through them. */
export interface Account {
  user: string;
  password: string;
  deep?: boolean;
}

/** One `list_groups` line, parsed. */
export interface GroupLine {
  id: string;
  owner: string;
  members: number;
  files: number;
}

/** What one tracker shows. `lines` is the canonical text compared between trackers. */
export interface TrackerView {
  tracker: number;
  lines: string[];
  groups: Map<string, GroupLine>;
  /** Users whose login worked. */
  loggedIn: Set<string>;
  /** Per group: deep users for whom list_files worked (members). */
  members: Map<string, Set<string>>;
  /** Per group: its list_files lines (names and sizes only; seeders compared separately). */
  files: Map<string, string[]>;
  /** Per group: the owner's list_requests lines, when the owner is a deep user. */
  requests: Map<string, string[]>;
}

/** The audit's verdict. */
export interface AuditResult {
  views: TrackerView[];
  /** Lines that differ between trackers (`tracker N: line` / `tracker N lacks: line`). */
  mismatches: string[];
  /** Broken invariants, each naming the tracker. */
  breaches: string[];
}

/** Parses `g1 owner=u1 members=2 files=1`. */
export function parseGroupLine(line: string): GroupLine | undefined {
  const m = line.match(/^(\S+) owner=(\S+) members=(\d+) files=(\d+)/);
  return m ? { id: m[1]!, owner: m[2]!, members: Number(m[3]), files: Number(m[4]) } : undefined;
}

/** A client that talks to tracker `no` only. */
export async function pinnedClient(cluster: Cluster, no: number): Promise<ClientProcess> {
  return startClient(cluster, { infoPath: await writeClientInfo(cluster, [no]) });
}

/** Everything `accounts` can see through tracker `no`, via `client` (pinned to it). */
export async function viewThrough(
  client: ClientProcess,
  no: number,
  accounts: Account[],
): Promise<TrackerView> {
  const view: TrackerView = {
    tracker: no,
    lines: [],
    groups: new Map(),
    loggedIn: new Set(),
    members: new Map(),
    files: new Map(),
    requests: new Map(),
  };
  for (const a of [...accounts].sort((x, y) => (x.user < y.user ? -1 : 1))) {
    const login = await client.run(`login ${a.user} ${a.password}`);
    if (login.err.length > 0) {
      view.lines.push(`login ${a.user}: ${login.err.join(" ")}`);
      continue;
    }
    view.loggedIn.add(a.user);
    view.lines.push(`login ${a.user}: ok`);
    if (a.deep) {
      const listed = await client.run("list_groups");
      if (listed.err.length > 0) view.lines.push(`${a.user} list_groups: ${listed.err.join(" ")}`);
      for (const line of listed.out) {
        const g = parseGroupLine(line);
        if (g) view.groups.set(g.id, g);
      }
      view.lines.push(...listed.out.map((l) => `groups: ${l}`)); // the same for every user
      for (const g of [...view.groups.keys()].sort()) {
        const files = await client.run(`list_files ${g}`);
        if (files.err.length === 0) {
          if (!view.members.has(g)) view.members.set(g, new Set());
          view.members.get(g)!.add(a.user);
          const sorted = [...files.out].sort();
          view.lines.push(`${a.user} list_files ${g}: ${sorted.join(", ")}`);
          view.files.set(g, sorted);
        } else {
          view.lines.push(`${a.user} list_files ${g}: not a member`);
        }
        if (view.groups.get(g)!.owner === a.user) {
          const requests = await client.run(`list_requests ${g}`);
          const text =
            requests.err.length > 0 ? `error ${requests.err.join(" ")}` : [...requests.out].sort().join(", ");
          view.lines.push(`${a.user} list_requests ${g}: ${text}`);
          view.requests.set(
            g,
            requests.err.length > 0 ? [`error: ${requests.err.join(" ")}`] : [...requests.out],
          );
        }
      }
    }
    await client.run("logout");
  }
  view.lines = [...new Set(view.lines)].sort();
  return view;
}

/** The invariants of README "The conflict rule", as far as the deep users can see them. */
export function invariantBreaches(
  view: TrackerView,
  accounts: Account[],
  options: { everyMemberAudited?: boolean } = {},
): string[] {
  const out: string[] = [];
  const deep = new Set(accounts.filter((a) => a.deep).map((a) => a.user));
  const at = `tracker ${view.tracker}`;
  for (const g of view.groups.values()) {
    const members = view.members.get(g.id) ?? new Set<string>();
    if (deep.has(g.owner)) {
      if (!members.has(g.owner)) out.push(`${at}: owner ${g.owner} of ${g.id} is not a member`);
      const requests = view.requests.get(g.id) ?? [];
      if (requests.some((r) => r.startsWith("error:")))
        out.push(`${at}: owner ${g.owner} cannot list the requests of ${g.id}: ${requests.join(" ")}`);
      for (const r of requests)
        if (members.has(r)) out.push(`${at}: ${r} is both a member of ${g.id} and pending`);
    }
    if (options.everyMemberAudited ? g.members !== members.size : g.members < members.size) {
      out.push(`${at}: ${g.id} shows members=${g.members} but ${members.size} audited users are members`);
    }
    if (g.members < 1) out.push(`${at}: ${g.id} has no member`);
    const files = view.files.get(g.id);
    if (files && files.length !== g.files)
      out.push(`${at}: ${g.id} shows files=${g.files} but list_files shows ${files.length}`);
  }
  return out;
}

/** Lines that are not the same through every tracker. */
export function viewMismatches(views: TrackerView[]): string[] {
  const out: string[] = [];
  const all = new Set(views.flatMap((v) => v.lines));
  for (const line of [...all].sort()) {
    const lacking = views.filter((v) => !v.lines.includes(line)).map((v) => v.tracker);
    if (lacking.length > 0)
      out.push(`tracker${lacking.length > 1 ? "s" : ""} ${lacking.join(",")} lack: ${line}`);
  }
  return out;
}

/**
 * Audits through every tracker of `cluster` in parallel (each must be running); a mismatch is
 * looked at again up to `attempts` times (liveness gossip may lag a heartbeat behind the state).
 * `everyMemberAudited`: every user who may be in a group is a deep account, so the members=
 * counts must match exactly.
 */
export async function audit(
  cluster: Cluster,
  accounts: Account[],
  options: { attempts?: number; retryMs?: number; everyMemberAudited?: boolean } = {},
): Promise<AuditResult> {
  const { attempts = 3, retryMs = 1_500 } = options;
  const nos = cluster.slots.map((s) => s.no);
  const clients = await Promise.all(nos.map((no) => pinnedClient(cluster, no)));
  try {
    let result: AuditResult | undefined;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      const views = await Promise.all(nos.map((no, i) => viewThrough(clients[i]!, no, accounts)));
      result = {
        views,
        mismatches: viewMismatches(views),
        breaches: views.flatMap((v) => invariantBreaches(v, accounts, options)),
      };
      if (result.mismatches.length === 0 && result.breaches.length === 0) break;
      if (attempt < attempts) await Bun.sleep(retryMs);
    }
    return result!;
  } finally {
    await Promise.all(clients.map((c) => c.close().catch(() => c.stop())));
  }
}
