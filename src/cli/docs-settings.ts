/** npm run docs:settings: regenerates the settings table of docs/settings.md from src/settings.ts. */
import { readFileSync, writeFileSync } from "node:fs";
import { relative } from "node:path";
import { renderSettingsDoc, SETTINGS_DOC, SETTINGS_DOC_COMMAND } from "../settings-docs.ts";
import { type CommandSpec, parseCommandLine } from "./args.ts";

const spec: CommandSpec = {
  invocation: `${SETTINGS_DOC_COMMAND} --`,
  description:
    "Regenerates the settings table in docs/settings.md (between its settings-table markers) from every VALKEY_* variable of src/settings.ts: what each accepts, its default and what it does (a unit test fails when it is stale).",
  options: {
    check: { description: "change nothing; exit 1 when the table is stale" },
  },
};

const { options } = parseCommandLine(spec);
const file = relative(process.cwd(), SETTINGS_DOC) || SETTINGS_DOC;
const current = readFileSync(SETTINGS_DOC, "utf8");
const rendered = renderSettingsDoc(current);
if (options.check) {
  if (rendered !== current) {
    console.error(`the settings table in ${file} is stale: run ${SETTINGS_DOC_COMMAND}`);
    process.exit(1);
  }
  console.log(`the settings table in ${file} matches src/settings.ts`);
} else if (rendered === current) {
  console.log(`the settings table in ${file} already matches src/settings.ts`);
} else {
  writeFileSync(SETTINGS_DOC, rendered);
  console.log(`updated the settings table in ${file}`);
}
