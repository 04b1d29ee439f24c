import { fileURLToPath } from "node:url";
import { settingsTable } from "./settings.ts";

/** The page whose settings table is generated from src/settings.ts (`npm run docs:settings`). */
export const SETTINGS_DOC = fileURLToPath(new URL("../docs/settings.md", import.meta.url));

export const SETTINGS_TABLE_START = "<!-- settings-table:start -->";
export const SETTINGS_TABLE_END = "<!-- settings-table:end -->";

/** The command that regenerates the table: named by the staleness test and the markers' error. */
export const SETTINGS_DOC_COMMAND = "npm run docs:settings";

/** Characters a terminal or biome shows two columns wide: East Asian wide ones and emoji. */
const WIDE = /[\p{Extended_Pictographic}\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\uff00-\uff60]/u;

/** How wide a cell shows, as biome counts it when it aligns a table. */
function displayWidth(text: string): number {
  let width = 0;
  for (const char of text) width += WIDE.test(char) ? 2 : 1;
  return width;
}

/**
 * A Markdown table laid out exactly as `biome format` lays one out (every column padded to
 * its widest cell, at least 3, the separator row of dashes), so that the generated region
 * survives `npx biome check --write` unchanged and the staleness test compares like with like.
 */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const escaped = [header, ...rows].map((row) => row.map((cell) => cell.replaceAll("|", "\\|").replaceAll("\n", " ")));
  const widths = header.map((_, column) => Math.max(3, ...escaped.map((row) => displayWidth(row[column] ?? ""))));
  const line = (cells: readonly string[]) =>
    `| ${widths
      .map((width, column) => {
        const cell = cells[column] ?? "";
        return cell + " ".repeat(width - displayWidth(cell));
      })
      .join(" | ")} |`;
  const [head, ...body] = escaped as [string[], ...string[][]];
  return [line(head), line(widths.map((width) => "-".repeat(width))), ...body.map(line)].join("\n");
}

/** The settings table: every VALKEY_* variable of src/settings.ts, in its order there. */
export function settingsMarkdownTable(rows = settingsTable()): string {
  return markdownTable(["Variable", "Accepts", "Default", "What it does"], rows);
}

/** docs/settings.md with the region between the markers replaced by the generated table. */
export function renderSettingsDoc(doc: string, rows = settingsTable()): string {
  const start = doc.indexOf(SETTINGS_TABLE_START);
  const end = doc.indexOf(SETTINGS_TABLE_END);
  if (start < 0 || end < start) {
    throw new Error(
      `docs/settings.md lacks the ${SETTINGS_TABLE_START} ... ${SETTINGS_TABLE_END} markers: put them, on lines of their own, where the table goes, then run ${SETTINGS_DOC_COMMAND}`,
    );
  }
  return `${doc.slice(0, start + SETTINGS_TABLE_START.length)}\n\n${settingsMarkdownTable(rows)}\n\n${doc.slice(end)}`;
}
