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
