import { readFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import { settingsTable } from "../../src/settings.ts";
import {
  markdownTable,
  renderSettingsDoc,
  SETTINGS_DOC,
  SETTINGS_DOC_COMMAND,
  SETTINGS_TABLE_END,
  SETTINGS_TABLE_START,
} from "../../src/settings-docs.ts";

describe("docs/settings.md", () => {
  const doc = readFileSync(SETTINGS_DOC, "utf8");

  test(`its settings table matches src/settings.ts (run \`${SETTINGS_DOC_COMMAND}\` after changing a setting)`, () => {
    expect(renderSettingsDoc(doc), `docs/settings.md's settings table is stale: run ${SETTINGS_DOC_COMMAND}`).toBe(doc);
  });

  test("names every setting the harness reads, the ones the old README's table had lost among them", () => {
    for (const [variable] of settingsTable()) expect(doc).toContain(`| ${variable} `);
    expect(doc).toContain("`VALKEY_REPORTS_DIR`");
    expect(doc).toContain("`VALKEY_KUBERNETES_UPGRADE_TO`");
  });

  test("a table missing a setting is seen as stale (the check can fail)", () => {
    const stale = renderSettingsDoc(doc, settingsTable().slice(1));
    expect(renderSettingsDoc(stale)).not.toBe(stale);
  });

  test("without its markers the page is refused with the fix, not rewritten", () => {
    expect(() => renderSettingsDoc(doc.replace(SETTINGS_TABLE_START, "").replace(SETTINGS_TABLE_END, ""))).toThrow(
      /lacks the <!-- settings-table:start --> \.\.\. <!-- settings-table:end --> markers/,
    );
  });
});

describe("generated Markdown tables", () => {
  test("are laid out as biome formats them: columns padded to the widest cell, at least 3, pipes escaped, wide characters counted twice", () => {
    // What `npx biome format` prints for this table (checked by hand with biome 2.6.8).
    expect(
      markdownTable(
        ["a", "What"],
        [
          ["`x`", "one | two"],
          ["日本", "🙂"],
        ],
      ),
    ).toBe(
      ["| a    | What       |", "| ---- | ---------- |", "| `x`  | one \\| two |", "| 日本 | 🙂         |"].join("\n"),
    );
  });
});

describe("README.md", () => {
  test("stays a page a newcomer reads (at most 10 KiB; the depth is in docs/)", () => {
    const size = readFileSync(new URL("../../README.md", import.meta.url)).length;
    expect(size, "README.md grew past 10 KiB: move the detail into docs/ and link it").toBeLessThanOrEqual(10 * 1024);
  });
});
