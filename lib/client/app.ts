// Shell: runs client commands against the tracker cluster and prints their results.
// Success goes to stdout; a failure is one `error: <reason>` line on stderr and changes nothing.
import { sessionId } from "../peer/auth.ts";
import type { Fields } from "../wire/fields.ts";
import { COMMANDS, type Command, type CommandName, usage } from "./commands.ts";
import type { TrackerLink } from "./tracker_link.ts";

/** Where the app writes. */
export interface Output {
  out(line: string): void;
  err(line: string): void;
}

/** File commands (upload, download, ...), provided by the file-sharing layer. */
export interface FileCommands {
  run(command: Command, session: LoggedIn): Promise<string[]>;
  /** Called after login: re-share what this client shared before. Returns lines to print. */
  afterLogin(session: LoggedIn): Promise<string[]>;
  /** Called before logout or exit: stop serving. */
  beforeLogout(): Promise<void>;
  /** The user left a group: stop serving and fetching its files here. */
  leftGroup(group: string, session: LoggedIn): Promise<void>;
}

/** The logged-in user of this client. */
export interface LoggedIn {
  user: string;
  link: TrackerLink;
  /** Hash of the session token: keys the proofs this client shows seeders. */
  sessionId: string;
}

/** A command that failed: its message becomes the `error:` line. */
export class CommandError extends Error {}

const FILE_COMMANDS = new Set<CommandName>([
  "upload_file",
  "download_file",
  "show_downloads",
  "stop_share",
  "list_files",
]);

export class ClientApp {
  readonly peer: string;
  #link: TrackerLink;
  #io: Output;
  #files?: FileCommands;
  #loggedIn?: LoggedIn;
  #lost?: string;
  /** Group ids and file names seen in replies, for tab completion. */
  readonly seen = { groups: new Set<string>(), files: new Set<string>() };

  constructor(options: { peer: string; link: TrackerLink; io: Output; files?: FileCommands }) {
    this.peer = options.peer;
    this.#link = options.link;
    this.#io = options.io;
    this.#files = options.files;
    this.#link.onSessionLost = (reason) => {
      this.#lost = reason; // said once, by the next command that needs the session
      this.#loggedIn = undefined;
      void this.#files?.beforeLogout();
    };
  }

  get user(): string | undefined {
    return this.#loggedIn?.user;
  }

  /** Runs one command, printing its output or its one error line. */
  async run(command: Command): Promise<void> {
    const outcome = await this.perform(command);
    if (outcome.ok) for (const line of outcome.lines) this.#io.out(line);
    else this.#io.err(`error: ${outcome.error}`);
  }

  /** Runs one command and returns its output lines or its error (the web page's entry). */
  async perform(command: Command): Promise<{ ok: true; lines: string[] } | { ok: false; error: string }> {
    try {
      return { ok: true, lines: await this.#execute(command) };
    } catch (err) {
      return { ok: false, error: err instanceof Error ? err.message : String(err) };
    }
  }

  /** Logs out if logged in and closes the tracker link. */
  async shutdown(): Promise<void> {
    if (this.#loggedIn) await this.#execute({ name: "logout", args: [] }).catch(() => {});
    this.#link.close();
  }

  async #execute(command: Command): Promise<string[]> {
    const [a = "", b = ""] = command.args;
    switch (command.name) {
      case "help":
        return help(a);
      case "quit":
        return [];
      case "create_user":
        await this.#write({ t: "create_user", user: a, pass: b });
        return [`user ${a} created`];
      case "login": {
        if (this.#loggedIn)
          throw new CommandError(`already logged in as ${this.#loggedIn.user}: run logout first`);
        const token = crypto.getRandomValues(new Uint8Array(32));
        const { tracker } = await this.#write({ t: "login", user: a, pass: b, peer: this.peer, token });
        this.#loggedIn = { user: a, link: this.#link, sessionId: sessionId(token) };
        this.#link.setSession(token);
        const lines = [`logged in as ${a} (tracker ${tracker})`];
        if (this.#files) lines.push(...(await this.#files.afterLogin(this.#loggedIn)));
        return lines;
      }
      case "logout": {
        this.#session();
        await this.#files?.beforeLogout();
        await this.#write({ t: "logout" });
        this.#link.setSession(undefined);
        this.#loggedIn = undefined;
        return ["logged out"];
      }
      case "whoami":
      case "status": {
        if (this.#loggedIn) await this.#read({ t: "whoami" }); // also reconnects after a failover
        const t = this.#link.tracker;
        const via = t ? `tracker ${t.no} (${t.host}:${t.port})` : "no tracker connected right now";
        return [
          this.#loggedIn
            ? `${this.#loggedIn.user} on ${this.peer} via ${via}`
            : `not logged in; peer address ${this.peer}; ${via}`,
        ];
      }
      case "create_group":
        this.seen.groups.add(a);
        this.#session();
        await this.#write({ t: "create_group", group: a });
        return [`group ${a} created; you own it`];
      case "join_group":
        this.#session();
        await this.#write({ t: "join_group", group: a });
        return [`asked to join ${a}; its owner must accept`];
      case "leave_group":
        this.#session();
        await this.#write({ t: "leave_group", group: a });
        await this.#files?.leftGroup(a, this.#session());
        return [`left ${a}`];
      case "accept_request":
        this.#session();
        await this.#write({ t: "accept_request", group: a, user: b });
        return [`${b} is now a member of ${a}`];
      case "reject_request":
        this.#session();
        await this.#write({ t: "reject_request", group: a, user: b });
        return [`rejected ${b}'s request to join ${a}`];
      case "list_requests": {
        this.#session();
        const data = await this.#read({ t: "list_requests", group: a });
        return strings(data.users);
      }
      case "list_groups": {
        this.#session();
        const data = await this.#read({ t: "list_groups" });
        const groups = records(data.groups);
        for (const g of groups) if (typeof g.id === "string") this.seen.groups.add(g.id);
        return groups.map((g) => `${g.id} owner=${g.owner} members=${g.members} files=${g.files}`);
      }
      default:
        if (!FILE_COMMANDS.has(command.name) || !this.#files)
          throw new CommandError(`usage: ${usage(command.name)}`);
        return this.#files.run(command, this.#session());
    }
  }

  #session(): LoggedIn {
    const lost = this.#lost;
    this.#lost = undefined;
    if (!this.#loggedIn && lost)
      throw new CommandError(`your session ended (${lost}): run login <user_id> <passwd> again`);
    if (!this.#loggedIn) throw new CommandError("not logged in: run login <user_id> <passwd>");
    return this.#loggedIn;
  }

  async #write(body: { t: string } & Fields): Promise<{ data: Fields; tracker: number }> {
    return this.#call({ ...body, rid: this.#link.newRid() });
  }

  async #read(body: { t: string } & Fields): Promise<Fields> {
    return (await this.#call(body)).data;
  }

  async #call(body: { t: string } & Fields): Promise<{ data: Fields; tracker: number }> {
    const { reply, tracker } = await this.#link.request(body);
    if (!reply.ok) throw new CommandError(reply.reason);
    return { data: reply.data, tracker };
  }
}

/** `help` or `help <command>`. */
function help(name: string): string[] {
  if (name) {
    if (!Object.hasOwn(COMMANDS, name))
      throw new CommandError(`unknown command "${name}": type help for the list`);
    return [`${usage(name as CommandName)}: ${COMMANDS[name as CommandName].help}`];
  }
  return Object.keys(COMMANDS).map(
    (n) => `${usage(n as CommandName).padEnd(58)} ${COMMANDS[n as CommandName].help}`,
  );
}

/** Reads a string array from a tracker reply, dropping anything else. */
export function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
}

/** Reads an array of maps from a tracker reply. */
export function records(v: unknown): Fields[] {
  return Array.isArray(v)
    ? v.filter((x): x is Fields => typeof x === "object" && x !== null && !Array.isArray(x))
    : [];
}
