// Parses one stdin line into a client command, or a usage error. Pure.
import { nameProblem } from "../wire/fields.ts";
import { MAX_PASSWORD_BYTES } from "../wire/limits.ts";

/** What the parser and the dispatcher know of a command. */
interface CommandSpec {
  /** Argument names in order; `[name]` is optional. Names ending `_id` and `file_name` are checked as names. */
  args: readonly string[];
  help: string;
  /** Runs only while logged in: the dispatcher says so, the handler gets the session. */
  login: boolean;
}

/**
 * Every client command: the one table the parser, help, completion and the dispatcher read. A new
 * command is one entry here and one handler in ClientApp or Files (the compiler asks for it).
 */
export const COMMANDS = {
  create_user: { args: ["user_id", "passwd"], help: "create an account", login: false },
  login: {
    args: ["user_id", "passwd"],
    help: "log in on this client; re-shares this client's files",
    login: false,
  },
  logout: { args: [], help: "log out; this client stops sharing", login: true },
  create_group: { args: ["group_id"], help: "create a group you own", login: true },
  join_group: { args: ["group_id"], help: "ask to join a group", login: true },
  leave_group: { args: ["group_id"], help: "leave a group (or withdraw your request)", login: true },
  list_requests: { args: ["group_id"], help: "pending join requests of a group you own", login: true },
  accept_request: { args: ["group_id", "user_id"], help: "accept a join request", login: true },
  reject_request: { args: ["group_id", "user_id"], help: "reject a join request", login: true },
  list_groups: { args: [], help: "every group", login: true },
  list_files: { args: ["group_id"], help: "files shared in a group: name, size, seeders", login: true },
  upload_file: { args: ["file_path", "group_id"], help: "share a local file in a group", login: true },
  download_file: {
    args: ["group_id", "file_name", "destination_path"],
    help: "download a file in the background",
    login: true,
  },
  show_downloads: { args: [], help: "downloads: [D] running, [C] complete, [F] failed", login: true },
  stop_share: { args: ["group_id", "file_name"], help: "stop sharing a file from this client", login: true },
  whoami: { args: [], help: "who is logged in, through which tracker", login: false },
  status: { args: [], help: "this client's tracker, session and transfers", login: false },
  help: { args: ["[command]"], help: "list commands, or explain one", login: false },
  quit: { args: [], help: "log out and exit (also: exit, end of input)", login: false },
} as const satisfies Record<string, CommandSpec>;

export type CommandName = keyof typeof COMMANDS;

/** The commands that run only while logged in. */
export type LoginCommand = {
  [N in CommandName]: (typeof COMMANDS)[N]["login"] extends true ? N : never;
}[CommandName];

/** The commands anyone may run. */
export type OpenCommand = Exclude<CommandName, LoginCommand>;

export function isCommandName(word: string): word is CommandName {
  return Object.hasOwn(COMMANDS, word);
}

export function needsLogin(name: CommandName): name is LoginCommand {
  return COMMANDS[name].login;
}

/** A parsed command line: the command and its arguments in order. */
export interface Command {
  name: CommandName;
  args: readonly string[];
}

/** The usage line of a command. */
export function usage(name: CommandName): string {
  const spec: CommandSpec = COMMANDS[name];
  return [name, ...spec.args.map((a) => (a.startsWith("[") ? a : `<${a}>`))].join(" ");
}

/** Parses a line: undefined for a blank line, else the command or a reason with its usage. */
export function parseCommand(
  line: string,
): { ok: true; command: Command } | { ok: false; reason: string } | undefined {
  const words = line
    .trim()
    .split(/\s+/)
    .filter((w) => w.length > 0);
  if (words.length === 0) return undefined;
  const [word = "", ...args] = words;
  const name = word === "exit" ? "quit" : word;
  if (!isCommandName(name)) {
    return {
      ok: false,
      reason: `unknown command "${word.slice(0, 40)}": type help for the list of commands`,
    };
  }
  const spec: CommandSpec = COMMANDS[name];
  const required = spec.args.filter((a) => !a.startsWith("[")).length;
  if (args.length < required || args.length > spec.args.length) {
    return { ok: false, reason: `usage: ${usage(name)}` };
  }
  for (const [i, arg] of args.entries()) {
    const what = spec.args[i] ?? "argument";
    const problem =
      what.endsWith("_id") || what === "file_name" ? nameProblem(arg) : passwordProblem(what, arg);
    if (problem)
      return {
        ok: false,
        reason: `${what} "${arg.slice(0, 40)}" ${problem}: usage: ${usage(name)}`,
      };
  }
  return { ok: true, command: { name, args } };
}

function passwordProblem(what: string, arg: string): string | undefined {
  if (what === "passwd" && Buffer.byteLength(arg) > MAX_PASSWORD_BYTES)
    return `is longer than ${MAX_PASSWORD_BYTES} bytes`;
  return undefined;
}
