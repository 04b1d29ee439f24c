import { readFileSync } from "node:fs";
import { join } from "node:path";
import { isMap, isScalar, type Node, type Pair, parseDocument } from "yaml";
import { WRAPPER_CHART } from "../environments.ts";

export interface ValueDoc {
  key: string;
  description: string;
  default: string;
}

function comment(text: string | null | undefined): string {
  return (text ?? "")
    .split("\n")
    .map((line) => line.replace(/^\s*-- /, "").trim())
    .filter(Boolean)
    .join(" ");
}

/**
 * Every leaf of values.yaml with the comment above it: maps are walked, everything else
 * (scalars, lists, empty maps) is one row; a leaf without a comment of its own takes its
 * nearest commented parent's.
 */
export function documentedValues(file = join(WRAPPER_CHART, "values.yaml")): ValueDoc[] {
  const doc = parseDocument(readFileSync(file, "utf8"));
  const rows: ValueDoc[] = [];
  const walk = (node: Node | null | undefined, prefix: string, inherited: string) => {
    if (!isMap(node)) return;
    node.items.forEach((pair: Pair, index) => {
      const key = `${prefix}${String((pair.key as { value?: unknown }).value)}`;
      const own = comment((pair.key as Node).commentBefore ?? (index === 0 ? node.commentBefore : undefined));
      const value = pair.value as Node | null;
      if (isMap(value) && value.items.length > 0) {
        walk(value, `${key}.`, own || inherited);
        return;
      }
      const rendered = isScalar(value) ? JSON.stringify(value.value) : JSON.stringify(value?.toJSON() ?? null);
      rows.push({ key, description: own || inherited, default: rendered });
    });
  };
  walk(doc.contents, "", "");
  return rows;
}

export const TABLE_START = "<!-- values-table:start -->";
export const TABLE_END = "<!-- values-table:end -->";

export function valuesTable(rows = documentedValues()): string {
  const escapePipes = (text: string) => text.replaceAll("|", "\\|");
  return [
    "| Key | Description | Default |",
    "|---|---|---|",
    ...rows.map((row) => `| \`${row.key}\` | ${escapePipes(row.description)} | \`${escapePipes(row.default)}\` |`),
  ].join("\n");
}

/** The chart README with its values table regenerated from values.yaml. */
export function renderReadme(readme: string): string {
  const start = readme.indexOf(TABLE_START);
  const end = readme.indexOf(TABLE_END);
  if (start < 0 || end < start)
    throw new Error(`charts/valkey/README.md lacks the ${TABLE_START} ... ${TABLE_END} markers`);
  return `${readme.slice(0, start + TABLE_START.length)}\n${valuesTable()}\n${readme.slice(end)}`;
}
