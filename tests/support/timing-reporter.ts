import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Reporter, TestModule } from "vitest/node";
import { REPORTS } from "../../src/report/index.ts";

/** Per project: wall time from its first test's start to its last test's end, and its slowest tests. */
export interface ProjectTiming {
  project: string;
  wallSeconds: number;
  tests: number;
  slowest: { test: string; seconds: number }[];
}

/**
 * Says at the end of a run how long each project took and what its slowest tests were
 * (an install counts in the first test that uses the release), and writes the same to
 * reports/suite-times.json for `npm run measure:suites`.
 */
export default class TimingReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    const byProject = new Map<string, { start: number; end: number; tests: { test: string; seconds: number }[] }>();
    for (const module of modules) {
      for (const test of module.children.allTests()) {
        const { startTime, duration } = test.diagnostic() ?? { startTime: 0, duration: 0 };
        if (!startTime) continue;
        const project = module.project.name;
        const entry = byProject.get(project) ?? { start: Number.POSITIVE_INFINITY, end: 0, tests: [] };
        entry.start = Math.min(entry.start, startTime);
        entry.end = Math.max(entry.end, startTime + duration);
        entry.tests.push({ test: test.fullName, seconds: Number((duration / 1000).toFixed(1)) });
        byProject.set(project, entry);
      }
    }
    const timings: ProjectTiming[] = [...byProject.entries()]
      .sort(([, a], [, b]) => a.start - b.start)
      .map(([project, entry]) => ({
        project,
        wallSeconds: Number(((entry.end - entry.start) / 1000).toFixed(1)),
        tests: entry.tests.length,
        slowest: entry.tests.sort((a, b) => b.seconds - a.seconds).slice(0, 3),
      }));
    if (timings.length === 0) return;
    console.log("\n[timing] wall time per project (first test start to last test end) and its slowest tests:");
    for (const t of timings) {
      console.log(`[timing] ${t.project}: ${t.wallSeconds} s, ${t.tests} tests`);
      for (const slow of t.slowest) console.log(`[timing]   ${slow.seconds} s  ${slow.test}`);
    }
    mkdirSync(REPORTS, { recursive: true });
    writeFileSync(
      join(REPORTS, "suite-times.json"),
      `${JSON.stringify({ at: new Date().toISOString(), timings }, null, 2)}\n`,
    );
  }
}
