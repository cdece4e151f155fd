// Shell: runs client commands against the tracker cluster and prints their results.
// Success goes to stdout; a failure is one `error: <reason>` line on stderr and changes nothing.
import { sessionId } from "../peer/auth.ts";
import type { Fields } from "../wire/fields.ts";
import { parseGroupList, parseUserList } from "../wire/tracker_replies.ts";
import {
  COMMANDS,
  type Command,
  isCommandName,
  type LoginCommand,
  needsLogin,
  type OpenCommand,
  usage,
} from "./commands.ts";
import { SESSION_GONE, type TrackerLink } from "./tracker_link.ts";

/** Where the app writes. */
export interface Output {
  out(line: string): void;
  err(line: string): void;
}

/** What runs each command: the lines it prints, or a CommandError. Keyed by the COMMANDS table. */
export type Handlers = {
  [N in LoginCommand]: (args: readonly string[], session: LoggedIn, emit: Emit) => Promise<string[]>;
} & { [N in OpenCommand]: (args: readonly string[]) => Promise<string[]> };

/** Takes a line as soon as it is known (a listing's entries as their parts arrive). */
export type Emit = (line: string) => void;

/** The commands the file-sharing layer runs. */
export type FileCommand = "upload_file" | "download_file" | "show_downloads" | "stop_share" | "list_files";

/** File commands (upload, download, ...) and what login and logout do to sharing. */
export interface FileCommands {
  readonly handlers: Pick<Handlers, FileCommand>;
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

export class ClientApp {
  readonly peer: string;
  #link: TrackerLink;
  #io: Output;
  #files: FileCommands;
  #handlers: Handlers;
  #loggedIn: LoggedIn | undefined;
  #lost: string | undefined;
  /** Group ids and file names seen in replies, for tab completion. */
  readonly seen = { groups: new Set<string>(), files: new Set<string>() };

  constructor(options: { peer: string; link: TrackerLink; io: Output; files: FileCommands }) {
    this.peer = options.peer;
    this.#link = options.link;
    this.#io = options.io;
    this.#files = options.files;
    this.#handlers = { ...this.#ownHandlers(), ...options.files.handlers };
    this.#link.onSessionLost = (reason) => {
      this.#lost = reason; // said once, by the next command that needs the session
      this.#loggedIn = undefined;
      void this.#files.beforeLogout();
    };
  }

  get user(): string | undefined {
    return this.#loggedIn?.user;
  }

  /** Runs one command, printing its output or its one error line. */
  async run(command: Command): Promise<void> {
    try {
      const out = (line: string) => this.#io.out(line);
      for (const line of await this.execute(command, out)) out(line);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.#io.err(`error: ${message}`);
    }
  }

  /**
   * Runs one command: the lines it prints, or it throws with the reason (a CommandError,
   * usually). A listing gives its lines to `emit` as they arrive, when given one.
   */
  async execute(command: Command, emit?: Emit): Promise<string[]> {
    const { name, args } = command;
    if (!needsLogin(name)) return this.#handlers[name](args);
    // Without `emit`, lines that a command gives as they come are returned with the others.
    const early: string[] = [];
    const lines = await this.#handlers[name](args, this.#session(), emit ?? ((line) => early.push(line)));
    return [...early, ...lines];
  }

  /** Logs out if logged in and closes the tracker link. */
  async shutdown(): Promise<void> {
    if (this.#loggedIn) await this.execute({ name: "logout", args: [] }).catch(() => {});
    this.#link.close();
  }

  #ownHandlers(): Omit<Handlers, FileCommand> {
    return {
      help: async ([name = ""]) => help(name),
      quit: async () => [],
      create_user: async ([user = "", pass = ""]) => {
        await this.#write({ t: "create_user", user, pass });
        return [`user ${user} created`];
      },
      login: async ([user = "", pass = ""]) => {
        if (this.#loggedIn)
          throw new CommandError(`already logged in as ${this.#loggedIn.user}: run logout first`);
        const token = crypto.getRandomValues(new Uint8Array(32));
        const { tracker } = await this.#write({ t: "login", user, pass, peer: this.peer, token });
        const session: LoggedIn = { user, link: this.#link, sessionId: sessionId(token) };
        this.#loggedIn = session;
        this.#link.setSession(token, { user, pass, peer: this.peer });
        return [`logged in as ${user} (tracker ${tracker})`, ...(await this.#files.afterLogin(session))];
      },
      logout: async () => {
        await this.#files.beforeLogout();
        // A tracker that holds no session for us any more: it has ended already, as asked.
        await this.#write({ t: "logout" }).catch((err: unknown) => {
          if (!(err instanceof CommandError && SESSION_GONE.test(err.message))) throw err;
        });
        this.#link.setSession(undefined);
        this.#loggedIn = undefined;
        return ["logged out"];
      },
      whoami: () => this.#whoami(),
      status: () => this.#whoami(),
      create_group: async ([group = ""]) => {
        this.seen.groups.add(group);
        await this.#write({ t: "create_group", group });
        return [`group ${group} created; you own it`];
      },
      join_group: async ([group = ""]) => {
        await this.#write({ t: "join_group", group });
        return [`asked to join ${group}; its owner must accept`];
      },
      leave_group: async ([group = ""], session) => {
        await this.#write({ t: "leave_group", group });
        await this.#files.leftGroup(group, session);
        return [`left ${group}`];
      },
      accept_request: async ([group = "", user = ""]) => {
        await this.#write({ t: "accept_request", group, user });
        return [`${user} is now a member of ${group}`];
      },
      reject_request: async ([group = "", user = ""]) => {
        await this.#write({ t: "reject_request", group, user });
        return [`rejected ${user}'s request to join ${group}`];
      },
      list_requests: async ([group = ""]) => parseUserList(await this.#read({ t: "list_requests", group })),
      list_groups: async (_args, session, emit) => {
        // Printed as the parts arrive: the first line of 40,000 groups comes at once.
        await listing(session, { t: "list_groups" }, (items) => {
          for (const g of parseGroupList({ groups: items })) {
            this.seen.groups.add(g.id);
            emit(`${g.id} owner=${g.owner} members=${g.members} files=${g.files}`);
          }
        });
        return [];
      },
    };
  }

  async #whoami(): Promise<string[]> {
    if (this.#loggedIn) await this.#read({ t: "whoami" }); // also reconnects after a failover
    const t = this.#link.tracker;
    const via = t ? `tracker ${t.no} (${t.host}:${t.port})` : "no tracker connected right now";
    return [
      this.#loggedIn
        ? `${this.#loggedIn.user} on ${this.peer} via ${via}`
        : `not logged in; peer address ${this.peer}; ${via}`,
    ];
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
    if (!isCommandName(name)) throw new CommandError(`unknown command "${name}": type help for the list`);
    return [`${usage(name)}: ${COMMANDS[name].help}`];
  }
  return Object.keys(COMMANDS)
    .filter(isCommandName)
    .map((n) => `${usage(n).padEnd(58)} ${COMMANDS[n].help}`);
}

/** Sends a listing request; its entries go to `onPart` part by part, as they arrive. */
export async function listing(
  session: LoggedIn,
  body: { t: string } & Fields,
  onPart: (items: Fields[]) => void,
): Promise<void> {
  const { reply } = await session.link.request(body, { onPart });
  if (!reply.ok) throw new CommandError(reply.reason);
}
