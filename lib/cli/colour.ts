// ANSI colour for a terminal that wants it; plain text in pipes and whenever NO_COLOR is set.

export function colour(
  code: "red" | "yellow" | "dim" | "bold",
  text: string,
  stream: NodeJS.WriteStream,
): string {
  if (!stream.isTTY || process.env.NO_COLOR !== undefined) return text;
  const open = { red: 31, yellow: 33, dim: 2, bold: 1 }[code];
  return `\x1b[${open}m${text}\x1b[0m`;
}
