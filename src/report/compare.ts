/**
 * Checks a benchmark report against a baseline; exits 1 on a regression.
 *
 *   npm run bench:compare -- <baseline.json> <current.json> [--max-throughput-drop 0.15] [--max-p99-rise 0.5]
 */
import { compareReports, readBenchReport, type Thresholds } from "./bench.ts";

function option(args: string[], name: string, fallback: number): number {
  const index = args.indexOf(name);
  if (index < 0) return fallback;
  const value = Number(args[index + 1]);
  if (!(value >= 0 && value <= 10))
    throw new Error(`${name} ${args[index + 1]} is not valid: give a share such as 0.15`);
  return value;
}

const args = process.argv.slice(2);
const files = args.filter((arg, i) => !arg.startsWith("--") && !args[i - 1]?.startsWith("--"));
if (files.length !== 2) {
  console.error(
    "usage: npm run bench:compare -- <baseline.json> <current.json> [--max-throughput-drop 0.15] [--max-p99-rise 0.5]",
  );
  process.exit(2);
}
const thresholds: Thresholds = {
  maxThroughputDrop: option(args, "--max-throughput-drop", 0.15),
  maxP99Rise: option(args, "--max-p99-rise", 0.5),
};
const regressions = compareReports(
  readBenchReport(files[0] as string),
  readBenchReport(files[1] as string),
  thresholds,
);
if (regressions.length) {
  console.error(`REGRESSION against ${files[0]}:\n  ${regressions.join("\n  ")}`);
  process.exit(1);
}
console.log(`no regression against ${files[0]} (thresholds ${JSON.stringify(thresholds)})`);
