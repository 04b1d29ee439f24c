/**
 * npm run bench:compare: checks a benchmark report against a baseline, path by path;
 * exits 1 on a regression, 2 on a usage error.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { BASELINE_REPORTS, comparePaths, comparisonTable, readBenchReport, type Thresholds } from "../report/bench.ts";
import { type CommandSpec, fail, parseCommandLine } from "./args.ts";

const spec: CommandSpec = {
  invocation: "npm run bench:compare --",
  positionals: "[baseline.json] <current.json>",
  description:
    "Compares a benchmark report with a baseline path by path (every workload, every path), prints a table of every change with what was allowed, and exits 1 when a throughput dropped or a p99 rose beyond the larger of the threshold and the run-to-run spread the baseline recorded for that path (at most twice the threshold), or errors or misses appeared where the baseline had none. A path with one run recorded (the disruption workloads) is shown, not judged. Without a baseline argument, the committed baseline of the report's environment is used (reports/baseline/bench-<env>.json).",
  options: {
    "max-throughput-drop": { value: "SHARE", description: "largest allowed throughput drop", default: "0.15" },
    "max-p99-rise": { value: "SHARE", description: "largest allowed p99 rise", default: "0.5" },
  },
  epilogue: ["example: npm run bench:compare -- reports/bench-dev-01.json"],
};

const { options, positionals } = parseCommandLine(spec);
const share = (name: string, fallback: number) => {
  const raw = options[name];
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (typeof raw !== "string" || !/^[0-9]*\.?[0-9]+$/.test(raw) || value > 10) {
    fail(spec, `--${name} ${String(raw)} is not valid: give a share such as 0.15`);
  }
  return value;
};
const thresholds: Thresholds = {
  maxThroughputDrop: share("max-throughput-drop", 0.15),
  maxP99Rise: share("max-p99-rise", 0.5),
};
if (positionals.length < 1 || positionals.length > 2)
  fail(spec, "give the current report, and optionally a baseline before it");
for (const file of positionals) if (!existsSync(file)) fail(spec, `${file}: no such report`);
const current = readBenchReport(positionals.at(-1) as string);
const baselineFile =
  positionals.length === 2 ? (positionals[0] as string) : join(BASELINE_REPORTS, `bench-${current.environment}.json`);
if (!existsSync(baselineFile))
  fail(spec, `no baseline: ${baselineFile} does not exist; name one before the current report`);
const comparisons = comparePaths(readBenchReport(baselineFile), current, thresholds);
console.log(
  `${current.environment}: ${positionals.at(-1)} against ${baselineFile} (thresholds: throughput -${thresholds.maxThroughputDrop * 100} %, p99 +${thresholds.maxP99Rise * 100} %, or the runs' own spread where larger)\n`,
);
console.log(comparisonTable(comparisons));
const regressions = comparisons.filter((c) => c.verdict === "regression");
if (regressions.length) {
  console.error(
    `\nREGRESSION against ${baselineFile}:\n  ${regressions.flatMap((c) => c.notes.map((n) => `${c.path}: ${n}`)).join("\n  ")}`,
  );
  process.exit(1);
}
console.log(`\nno regression against ${baselineFile}`);
