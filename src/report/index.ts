import { appendFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setting } from "../settings.ts";

/** Where reports are written: reports/ of the repository, or VALKEY_REPORTS_DIR. */
export const REPORTS = setting("VALKEY_REPORTS_DIR");

/** A Markdown table from rows of cells. */
export function markdownTable(header: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) =>
    `| ${cells.map((c) => String(c).replaceAll("|", "\\|").replaceAll("\n", " ")).join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

/**
 * Writes `<name>.json` and `<name>.md` under reports/, and appends the Markdown to the
 * GitHub job summary when running in Actions. Returns the two paths.
 */
export function writeReport(name: string, data: unknown, markdown: string): { json: string; markdown: string } {
  mkdirSync(REPORTS, { recursive: true });
  const json = join(REPORTS, `${name}.json`);
  const md = join(REPORTS, `${name}.md`);
  writeFileSync(json, `${JSON.stringify(data, null, 2)}\n`);
  writeFileSync(md, `${markdown.trimEnd()}\n`);
  if (process.env.GITHUB_STEP_SUMMARY) appendFileSync(process.env.GITHUB_STEP_SUMMARY, `${markdown.trimEnd()}\n\n`);
  return { json, markdown: md };
}

const UNITS: [suffix: string, unit: string][] = [
  ["Seconds", "s"],
  ["Ms", "ms"],
  ["Bytes", "bytes"],
];

/**
 * A measured value in words for a report's cell, instead of JSON: `{ firedAfterSeconds: 12.3,
 * looks: 4 }` -> `fired after: 12.3 s; looks: 4`. Keys ending in Seconds, Ms or Bytes give
 * their unit; nested objects are named by their key; absent values read "none".
 */
export function inWords(value: unknown): string {
  if (value === undefined || value === null) return "none";
  if (typeof value === "boolean") return value ? "yes" : "no";
  if (typeof value === "number") return Number.isInteger(value) ? value.toLocaleString("en-US") : String(value);
  if (Array.isArray(value)) return value.length === 0 ? "none" : value.map(inWords).join(", ");
  if (typeof value !== "object") return String(value);
  return Object.entries(value as Record<string, unknown>)
    .map(([key, item]) => {
      const unit = UNITS.find(([suffix]) => key.endsWith(suffix) && key !== suffix);
      const name = (unit ? key.slice(0, -unit[0].length) : key).replace(/([a-z0-9])([A-Z])/g, "$1 $2").toLowerCase();
      if (item !== null && typeof item === "object" && !Array.isArray(item)) return `${name}: (${inWords(item)})`;
      return `${name}: ${inWords(item)}${unit && typeof item === "number" ? ` ${unit[1]}` : ""}`;
    })
    .join("; ");
}
