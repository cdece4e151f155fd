// A page command's body, read and checked, and how it is logged. Pure.

/** A page command: the terminal command line it stands for, word by word. */
export interface PageCommand {
  name: string;
  args: string[];
}

/** Commands the page may not run: quitting belongs to the terminal. */
const TERMINAL_ONLY = new Set(["quit", "exit"]);
/** Commands whose arguments hold a password: never logged. */
const SECRET_ARGS = new Set(["login", "create_user"]);
const MAX_ARGS = 8;

/**
 * Reads `{"command": "...", "args": ["..."]}`. Each argument is one word, as on the terminal
 * (ids and names hold no spaces); the terminal's own parser checks the rest.
 */
export function parseCommandBody(
  text: string,
): { ok: true; command: PageCommand } | { ok: false; error: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, error: "the page command is not JSON" };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value))
    return { ok: false, error: "the page command is not an object" };
  const command: unknown = Reflect.get(value, "command");
  const args: unknown = Reflect.get(value, "args");
  if (typeof command !== "string" || !/^[a-z_]{1,40}$/.test(command))
    return { ok: false, error: "the page command names no command" };
  if (
    !Array.isArray(args) ||
    args.length > MAX_ARGS ||
    !args.every((a): a is string => typeof a === "string")
  )
    return { ok: false, error: "the page command's arguments are not a list of strings" };
  if (TERMINAL_ONLY.has(command))
    return { ok: false, error: `${command} is a terminal command: type it there` };
  for (const arg of args) {
    if (arg === "") return { ok: false, error: `${command}: fill in every field` };
    if (/\s/.test(arg))
      return {
        ok: false,
        error: `"${arg.slice(0, 60)}" contains spaces: commands take one word per argument`,
      };
  }
  return { ok: true, command: { name: command, args } };
}

/** The command line to run, as typed on the terminal. */
export function commandLine(command: PageCommand): string {
  return [command.name, ...command.args].join(" ");
}

/** The log line of a page command: `web: <line>`, with passwords left out. */
export function commandLogLine(command: PageCommand): string {
  if (SECRET_ARGS.has(command.name)) return `web: ${command.name} ${command.args[0] ?? ""} ***`;
  return `web: ${commandLine(command)}`;
}
