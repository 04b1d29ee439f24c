import { readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { parse } from "yaml";
import { run } from "../process.ts";
import { compareVersions } from "./upstream.ts";

/** What a chart change must come with, judged against the chart at a base revision. */
export interface VersionVerdict {
  changedFiles: string[];
  baseVersion?: string;
  version: string;
  problems: string[];
}

const chartVersion = (text: string) => (parse(text) as { version?: string }).version ?? "";

/**
 * chart-testing's rule, and a changelog: when any file of the chart differs from the base
 * revision (a pull request's target), its Chart.yaml version must be higher than the base's,
 * and CHANGELOG.md must have an entry for it. `chartDir` is read from the working tree.
 */
export async function checkChartVersion(repository: string, chartDir: string, base: string): Promise<VersionVerdict> {
  const path = relative(repository, chartDir);
  const resolved = await run("git", ["-C", repository, "rev-parse", "--verify", "--quiet", `${base}^{commit}`]);
  if (resolved.code !== 0)
    throw new Error(
      `the base revision ${base} is not a commit of ${repository} (fetch it first, e.g. git fetch origin main)`,
    );
  const diff = await run("git", ["-C", repository, "diff", "--name-only", base, "--", path]);
  const untracked = await run("git", ["-C", repository, "ls-files", "--others", "--exclude-standard", "--", path]);
  const changedFiles = [...diff.stdout.split("\n"), ...untracked.stdout.split("\n")].filter(Boolean).sort();
  const version = chartVersion(readFileSync(join(chartDir, "Chart.yaml"), "utf8"));
  const baseChart = await run("git", ["-C", repository, "show", `${base}:${path}/Chart.yaml`]);
  const baseVersion = baseChart.code === 0 ? chartVersion(baseChart.stdout) : undefined;
  const problems: string[] = [];
  if (changedFiles.length > 0 && baseVersion !== undefined && compareVersions(version, baseVersion) <= 0) {
    problems.push(
      `${path}/Chart.yaml: version ${version} is not higher than ${baseVersion} at ${base}, though ${changedFiles.length} file(s) of the chart changed (${changedFiles.slice(0, 5).join(", ")}${changedFiles.length > 5 ? ", ..." : ""}). Fix: bump version (major for a change that breaks releases or values, minor for a feature, patch for a fix) and add its entry to ${path}/CHANGELOG.md`,
    );
  }
  const changelog = (() => {
    try {
      return readFileSync(join(chartDir, "CHANGELOG.md"), "utf8");
    } catch {
      return "";
    }
  })();
  if (!new RegExp(`^## ${version.replaceAll(".", "\\.")}(\\s|$)`, "m").test(changelog)) {
    problems.push(`${path}/CHANGELOG.md has no entry "## ${version}": say what this version changes for a release`);
  }
  return { changedFiles, baseVersion, version, problems };
}
