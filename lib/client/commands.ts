// Parses one stdin line into a client command, or a usage error. Pure.
import { nameProblem } from "../wire/fields.ts";
import { MAX_PASSWORD_BYTES } from "../wire/limits.ts";

/** Every client command: its name, its arguments, and what it does. */
export const COMMANDS = {
  create_user: { args: ["user_id", "passwd"], help: "create an account" },
  login: { args: ["user_id", "passwd"], help: "log in on this client; re-shares this client's files" },
  logout: { args: [], help: "log out; this client stops sharing" },
  create_group: { args: ["group_id"], help: "create a group you own" },
  join_group: { args: ["group_id"], help: "ask to join a group" },
  leave_group: { args: ["group_id"], help: "leave a group (or withdraw your request)" },
  list_requests: { args: ["group_id"], help: "pending join requests of a group you own" },
  accept_request: { args: ["group_id", "user_id"], help: "accept a join request" },
  reject_request: { args: ["group_id", "user_id"], help: "reject a join request" },
  list_groups: { args: [], help: "every group" },
  list_files: { args: ["group_id"], help: "files shared in a group: name, size, seeders" },
  upload_file: { args: ["file_path", "group_id"], help: "share a local file in a group" },
  download_file: {
    args: ["group_id", "file_name", "destination_path"],
    help: "download a file in the background",
  },
  show_downloads: { args: [], help: "downloads: [D] running, [C] complete, [F] failed" },
  stop_share: { args: ["group_id", "file_name"], help: "stop sharing a file from this client" },
  whoami: { args: [], help: "who is logged in, through which tracker" },
  status: { args: [], help: "this client's tracker, session and transfers" },
  help: { args: ["[command]"], help: "list commands, or explain one" },
  quit: { args: [], help: "log out and exit (also: exit, end of input)" },
} as const;

export type CommandName = keyof typeof COMMANDS;

/** A parsed command line: the command and its arguments in order. */
export interface Command {
  name: CommandName;
  args: string[];
}

/** The usage line of a command. */
export function usage(name: CommandName): string {
  return [name, ...COMMANDS[name].args.map((a) => (a.startsWith("[") ? a : `<${a}>`))].join(" ");
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
  const [word, ...args] = words as [string, ...string[]];
  const name = word === "exit" ? "quit" : word;
  if (!Object.hasOwn(COMMANDS, name)) {
    return {
      ok: false,
      reason: `unknown command "${word.slice(0, 40)}": type help for the list of commands`,
    };
  }
  const spec = COMMANDS[name as CommandName];
  const required = spec.args.filter((a) => !a.startsWith("[")).length;
  if (args.length < required || args.length > spec.args.length) {
    return { ok: false, reason: `usage: ${usage(name as CommandName)}` };
  }
  for (const [i, arg] of args.entries()) {
    const what = spec.args[i] ?? "argument";
    const problem =
      what.endsWith("_id") || what === "file_name" ? nameProblem(arg) : passwordProblem(what, arg);
    if (problem)
      return {
        ok: false,
        reason: `${what} "${arg.slice(0, 40)}" ${problem}: usage: ${usage(name as CommandName)}`,
      };
  }
  return { ok: true, command: { name: name as CommandName, args } };
}

function passwordProblem(what: string, arg: string): string | undefined {
  if (what === "passwd" && Buffer.byteLength(arg) > MAX_PASSWORD_BYTES)
    return `is longer than ${MAX_PASSWORD_BYTES} bytes`;
  return undefined;
}
