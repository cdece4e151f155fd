// One-line structured log records on stderr: time, level, message.

/** A logger writing `<ISO time> <level> <message>` lines. */
export function makeLog(component: string, level: "info" | "warn" = "info"): (line: string) => void {
  return (line) => process.stderr.write(`${new Date().toISOString()} ${level} ${component} ${line}\n`);
}
