// Renders figures as a plain-text table: one section per suite, `median [min..max]` cells, the
// ratio ours/reference, the target and a verdict. Pure: returns text, prints nothing.
import type { Figure } from "./figures.ts";
import type { Summary } from "./stats.ts";

const HEADINGS = [
  "figure",
  "unit",
  "ours: median [min..max]",
  "reference: median [min..max]",
  "ours/ref",
  "target",
  "verdict",
];

/** The whole table, sections in order of first appearance, with `title` lines on top. */
export function renderTable(figures: Figure[], title: string[]): string {
  const rows = figures.map((f) => [
    f.name,
    f.unit,
    f.ours ? cell(f.ours) : "",
    f.reference ? `${cell(f.reference)}${f.refName ? ` ${f.refName}` : ""}` : (f.refName ?? ""),
    f.ratio === undefined ? "" : `${f.ratio.toFixed(2)}x`,
    f.target ?? "",
    verdictWord(f.pass),
  ]);
  const widths = HEADINGS.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join("  ")
      .trimEnd();
  const rule = "-".repeat(widths.reduce((a, b) => a + b + 2, -2));
  const out = [...title, "", line(HEADINGS), rule];
  let section = "";
  figures.forEach((f, i) => {
    if (f.section !== section) {
      section = f.section;
      out.push("", `== ${section}`);
    }
    out.push(line(rows[i]!));
  });
  out.push("", targetsMet(figures.map((f) => f.pass)));
  return out.join("\n");
}

/** MET, MISSED, or nothing for a figure without a target (or not measured). */
export function verdictWord(pass: boolean | undefined): string {
  return pass === undefined ? "" : pass ? "MET" : "MISSED";
}

/** `targets met: M of N`, over the figures that were judged. */
export function targetsMet(passes: readonly (boolean | undefined)[]): string {
  const judged = passes.filter((p) => p !== undefined);
  return `targets met: ${judged.filter((p) => p).length} of ${judged.length}`;
}

/** `median [min..max]`, each with digits suited to its size. */
export function cell(s: Summary): string {
  return `${num(s.median)} [${num(s.min)}..${num(s.max)}]`;
}

function num(v: number): string {
  if (!Number.isFinite(v)) return "n/a";
  const a = Math.abs(v);
  if (a >= 1000) return v.toFixed(0);
  if (a >= 100) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  return v.toFixed(3);
}
