/**
 * npm run chart:version-check -- --base origin/main: fails when the wrapper chart changed
 * since the base revision without a higher version and a CHANGELOG entry (chart-testing's
 * rule). Pull requests run it (.github/workflows/ci.yml).
 */
import { resolve } from "node:path";
import { checkChartVersion } from "../chart/version-check.ts";
import { WRAPPER_CHART } from "../environments.ts";
import { type CommandSpec, parseCommandLine, runMain } from "./args.ts";

const spec: CommandSpec = {
  invocation: "npm run chart:version-check --",
  description:
    "Compares charts/valkey with a base revision: when any of its files changed, Chart.yaml's version must be higher than the base's and CHANGELOG.md must have an entry for it. Exits 1 with the fix otherwise.",
  options: {
    base: {
      value: "REV",
      description: "the revision to compare with (a pull request's target)",
      default: "origin/main",
    },
  },
};

const { options } = parseCommandLine(spec);
const base = typeof options.base === "string" ? options.base : "origin/main";

runMain(async () => {
  const verdict = await checkChartVersion(resolve(WRAPPER_CHART, "..", ".."), WRAPPER_CHART, base);
  console.log(
    `[chart] ${verdict.changedFiles.length} file(s) of the chart changed since ${base}; version ${verdict.baseVersion ?? "(none)"} -> ${verdict.version}`,
  );
  for (const problem of verdict.problems) console.error(`[chart] ${problem}`);
  if (verdict.problems.length > 0) process.exitCode = 1;
});
