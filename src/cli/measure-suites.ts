/**
 * npm run measure:suites: runs a tier's suites --runs times, each as `npm test` (or
 * `npm run test:full`) would (warm images, no cluster running), and reports the wall time
 * of the whole run and of each project, medians over the runs, with each project's slowest tests.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { run } from "../process.ts";
import { markdownTable, REPORTS, writeReport } from "../report/index.ts";
import { median } from "../stats.ts";
import { TIERS, type Tier } from "../tiers.ts";
import { type CommandSpec, fail, parseCommandLine, runMain, wholeOption } from "./args.ts";

const spec: CommandSpec = {
  invocation: "npm run measure:suites --",
  description:
    "Runs vitest (the projects of a tier, or the --project ones) --runs times from a stopped cluster, and writes reports/suites.{json,md}: the wall time of each run and, per project, the median wall time and its slowest tests. Lint and type-check are timed once (they do not depend on the cluster).",
  options: {
    tier: {
      value: "default|full",
      description: "the projects of npm test (default) or of npm run test:full",
      default: "default",
    },
    runs: { value: "N", description: "runs to take the median of (1-10)", default: "3" },
    project: { value: "NAMES", description: "comma-separated vitest projects instead of a tier's" },
  },
  epilogue: ["example: npm run measure:suites -- --runs 3"],
};

interface ProjectTiming {
  project: string;
  wallSeconds: number;
  tests: number;
  slowest: { test: string; seconds: number }[];
}

const { options } = parseCommandLine(spec);
const runs = wholeOption(spec, "runs", options.runs, 1, 10, 3);
const tier = (options.tier ?? "default") as string;
if (!(tier in TIERS)) fail(spec, `--tier ${tier}: expected one of ${Object.keys(TIERS).join(", ")}`);
const projects: string[] = typeof options.project === "string" ? options.project.split(",") : [...TIERS[tier as Tier]];
const root = fileURLToPath(new URL("../../", import.meta.url));

runMain(async () => {
  const lintStarted = performance.now();
  const lint = await run("npm", ["run", "--silent", "lint"], { cwd: root });
  const lintSeconds = (performance.now() - lintStarted) / 1000;
  if (lint.code !== 0) throw new Error(`npm run lint failed:\n${lint.stdout}${lint.stderr}`);
  const samples: { totalSeconds: number; projects: ProjectTiming[]; passed: boolean }[] = [];
  for (let i = 1; i <= runs; i++) {
    const started = performance.now();
    const result = await run(
      process.execPath,
      [join(root, "node_modules/vitest/vitest.mjs"), "run", ...projects.flatMap((p) => ["--project", p])],
      { cwd: root, echo: true },
    );
    const totalSeconds = (performance.now() - started) / 1000;
    const times = JSON.parse(readFileSync(join(REPORTS, "suite-times.json"), "utf8")) as { timings: ProjectTiming[] };
    samples.push({ totalSeconds, projects: times.timings, passed: result.code === 0 });
    console.log(`[measure] run ${i}/${runs}: ${totalSeconds.toFixed(0)} s, ${result.code === 0 ? "passed" : "FAILED"}`);
  }
  const names = [...new Set(samples.flatMap((s) => s.projects.map((p) => p.project)))];
  const perProject = names.map((project) => {
    const walls = samples.map((s) => s.projects.find((p) => p.project === project)?.wallSeconds ?? Number.NaN);
    const slowest = samples.at(-1)?.projects.find((p) => p.project === project)?.slowest ?? [];
    return { project, medianWallSeconds: Number(median(walls).toFixed(1)), runs: walls, slowest };
  });
  const report = {
    measuredAt: new Date().toISOString(),
    runs,
    tier: typeof options.project === "string" ? "custom" : tier,
    vitestProjects: projects,
    lintSeconds: Number(lintSeconds.toFixed(1)),
    medianTotalSeconds: Number(median(samples.map((s) => s.totalSeconds)).toFixed(1)),
    totals: samples.map((s) => Number(s.totalSeconds.toFixed(1))),
    allPassed: samples.every((s) => s.passed),
    projects: perProject,
  };
  const markdown = [
    `### Suite times: ${report.tier === "custom" ? projects.join(", ") : `the ${tier} tier`} (${runs} runs, medians)`,
    "",
    `${report.tier === "default" ? "npm test" : report.tier === "full" ? "npm run test:full" : "the run"} = lint and type-check ${report.lintSeconds} s + vitest ${report.medianTotalSeconds} s (runs: ${report.totals.join(", ")} s; ${report.allPassed ? "all passed" : "NOT all passed"}). Projects that share a group order run side by side, so their times overlap.`,
    "",
    markdownTable(
      ["project", "wall time (median)", "runs", "slowest tests (last run)"],
      perProject.map((p) => [
        p.project,
        `${p.medianWallSeconds} s`,
        p.runs.join(" / "),
        p.slowest.map((t) => `${t.seconds} s ${t.test}`).join("; "),
      ]),
    ),
  ].join("\n");
  const written = writeReport("suites", report, markdown);
  writeFileSync(join(REPORTS, "suites.md"), `${markdown}\n`);
  console.log(`${markdown}\n-> ${written.json}`);
  if (!report.allPassed) process.exitCode = 1;
});
