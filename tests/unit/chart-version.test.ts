import { cpSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { checkChartVersion } from "../../src/chart/version-check.ts";
import { WRAPPER_CHART } from "../../src/environments.ts";
import { scratchDir } from "../../src/files.ts";
import { runOrThrow } from "../../src/process.ts";

/** A repository holding a copy of the chart, committed once: the base of a pull request. */
async function repository() {
  const repo = scratchDir("chart-version-");
  const chart = join(repo, "charts", "valkey");
  cpSync(WRAPPER_CHART, chart, { recursive: true, filter: (source) => !source.includes("/charts/valkey/charts") });
  const git = (...args: string[]) => runOrThrow("git", ["-C", repo, ...args]);
  await git("init", "-q");
  await git("add", ".");
  await git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "base");
  return { repo, chart };
}

const read = (file: string) => readFileSync(file, "utf8");
const bump = (chart: string, version: string) => {
  const file = join(chart, "Chart.yaml");
  writeFileSync(file, read(file).replace(/^version: .*$/m, `version: ${version}`));
};

describe("a chart change", () => {
  test("without a version bump fails, naming the changed files and the fix; with one and a changelog entry it passes", async () => {
    const { repo, chart } = await repository();
    expect((await checkChartVersion(repo, chart, "HEAD")).problems).toEqual([]);
    writeFileSync(join(chart, "values.yaml"), `${read(join(chart, "values.yaml"))}# a change\n`);
    const unbumped = await checkChartVersion(repo, chart, "HEAD");
    expect(unbumped.changedFiles).toEqual(["charts/valkey/values.yaml"]);
    expect(unbumped.problems.join("\n")).toMatch(
      /Chart\.yaml: version (\S+) is not higher than \1 at HEAD.*Fix: bump version/,
    );
    bump(chart, "99.0.0");
    expect((await checkChartVersion(repo, chart, "HEAD")).problems.join("\n")).toMatch(
      /CHANGELOG\.md has no entry "## 99\.0\.0"/,
    );
    writeFileSync(join(chart, "CHANGELOG.md"), `## 99.0.0\n\n- a change\n\n${read(join(chart, "CHANGELOG.md"))}`);
    expect((await checkChartVersion(repo, chart, "HEAD")).problems).toEqual([]);
  });

  test("against a base that is no commit fails with the fix", async () => {
    const { repo, chart } = await repository();
    await expect(checkChartVersion(repo, chart, "origin/nowhere")).rejects.toThrow(/not a commit.*git fetch/);
  });
});
