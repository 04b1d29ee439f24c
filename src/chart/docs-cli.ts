import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { renderReadme } from "./docs.ts";
import { WRAPPER_CHART } from "./wrapper.ts";

const file = join(WRAPPER_CHART, "README.md");
writeFileSync(file, renderReadme(readFileSync(file, "utf8")));
console.log(`updated the values table in ${file}`);
