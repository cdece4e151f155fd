// Shell: the client's interactive terminal: prompt, line editing, history and tab completion
// (node:readline). Piped input never comes here, and the client loads this module only on a
// terminal: node:readline alone adds ~5 MiB to a process's memory.
import { createInterface, type Interface } from "node:readline";

/** What the terminal asks of the client. */
export interface TerminalHooks {
  prompt(): string;
  /** Candidates for the word being typed: `words` are the words before it. */
  complete(words: string[], partial: string): string[];
  line(text: string): Promise<void>;
  end(): void;
}

/** Runs the interactive loop: one command at a time, history kept for the session. */
export function runTerminal(hooks: TerminalHooks): Interface {
  const rl = createInterface({
    input: process.stdin,
    output: process.stdout,
    terminal: true,
    historySize: 1000,
    completer: (line: string): [string[], string] => {
      const words = line.split(/\s+/);
      const partial = words.pop() ?? "";
      return [
        hooks.complete(
          words.filter((w) => w.length > 0),
          partial,
        ),
        partial,
      ];
    },
  });
  let queue = Promise.resolve();
  let running = false; // a command is printing: leave the screen to it
  const show = () => {
    running = false;
    rl.setPrompt(hooks.prompt());
    rl.prompt();
  };
  rl.on("line", (text) => {
    running = true;
    queue = queue.then(() => hooks.line(text)).then(show, show);
  });
  // The prompt carries live progress (downloads): redraw it each second, keeping what the user
  // is typing, instead of printing lines that would break into their input.
  let last = "";
  const refresh = setInterval(() => {
    const next = hooks.prompt();
    if (next === last || running) return;
    last = next;
    rl.setPrompt(next);
    rl.prompt(true);
  }, 1_000);
  refresh.unref();
  rl.on("SIGINT", () => rl.close()); // Ctrl-C at the prompt: log out and exit, like quit
  rl.on("close", () => {
    process.stdout.write("\n"); // leave the shell's prompt on a line of its own
    void queue.then(() => hooks.end());
  });
  show();
  return rl;
}
