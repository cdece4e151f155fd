// Shell: standard input as lines, whether or not it is a terminal.

/** Calls `onLine` for each line of stdin (without its newline), then `onEnd` at EOF. */
export async function readLines(
  onLine: (line: string) => Promise<void> | void,
  onEnd: () => void,
): Promise<void> {
  const decoder = new TextDecoder();
  let pending = "";
  for await (const chunk of Bun.stdin.stream()) {
    pending += decoder.decode(chunk, { stream: true });
    for (let nl = pending.indexOf("\n"); nl >= 0; nl = pending.indexOf("\n")) {
      const line = pending.slice(0, nl).replace(/\r$/, "");
      pending = pending.slice(nl + 1);
      await onLine(line);
    }
  }
  if (pending.length > 0) await onLine(pending);
  onEnd();
}
