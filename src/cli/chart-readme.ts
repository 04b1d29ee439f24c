/** npm run chart:readme: regenerates the values table of charts/valkey/README.md from values.yaml. */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { renderReadme } from "../chart/docs.ts";
import { WRAPPER_CHART } from "../environments.ts";
import { type CommandSpec, parseCommandLine } from "./args.ts";

const spec: CommandSpec = {
  invocation: "npm run chart:readme --",
  description:
    "Regenerates the values table in charts/valkey/README.md from the comments in charts/valkey/values.yaml (a unit test fails when it is stale).",
  options: {},
};

parseCommandLine(spec);
const file = join(WRAPPER_CHART, "README.md");
writeFileSync(file, renderReadme(readFileSync(file, "utf8")));
console.log(`updated the values table in ${file}`);
