/**
 * npm run test:kubernetes: the version matrix. For each Kubernetes release, the node image
 * of that release (built if missing) and the smoke and install suites on a fresh cluster of
 * it; reports/kubernetes-matrix.{json,md}: release x suite x time.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureImages } from "../images/index.ts";
import { run } from "../process.ts";
import { markdownTable, REPORTS, writeReport } from "../report/index.ts";
import { kubernetesReleases, setting } from "../settings.ts";
import { type CommandSpec, fail, parseCommandLine, runMain } from "./args.ts";

const SUITES = ["cluster", "install"];

const spec: CommandSpec = {
  invocation: "npm run test:kubernetes --",
  description: `Runs the ${SUITES.join(" and ")} suites on a cluster of each Kubernetes release (fixtures/images/releases/: ${kubernetesReleases().join(", ")}), one release after another, building a release's node image first when it is missing, and writes reports/kubernetes-matrix.{json,md}. Exits 1 when any release fails.`,
  options: {
    releases: {
      value: "LIST",
      description: "comma-separated releases, or all",
      default: "VALKEY_KUBERNETES_VERSIONS, else all",
    },
  },
  epilogue: ["example: npm run test:kubernetes -- --releases v1.36,v1.37"],
};

interface ProjectTiming {
  project: string;
  wallSeconds: number;
  tests: number;
}

const { options } = parseCommandLine(spec);
const root = fileURLToPath(new URL("../../", import.meta.url));
let releases: string[];
try {
  releases =
    typeof options.releases === "string"
      ? (setting("VALKEY_KUBERNETES_VERSIONS", { VALKEY_KUBERNETES_VERSIONS: options.releases }) ?? [])
      : (setting("VALKEY_KUBERNETES_VERSIONS") ?? kubernetesReleases());
} catch (error) {
  fail(
    spec,
    `--releases: ${error instanceof Error ? error.message.replace(/^VALKEY_KUBERNETES_VERSIONS=/, "") : error}`,
  );
}

runMain(async () => {
  const rows: {
    release: string;
    versions: Record<string, string>;
    passed: boolean;
    totalSeconds: number;
    suites: ProjectTiming[];
  }[] = [];
  for (const release of releases) {
    const images = await ensureImages(console.log, release);
    console.log(`\n[kubernetes] ${release}: ${images.node}`);
    const started = performance.now();
    const result = await run(
      process.execPath,
      [join(root, "node_modules/vitest/vitest.mjs"), "run", ...SUITES.flatMap((p) => ["--project", p])],
      { cwd: root, echo: true, env: { ...process.env, VALKEY_KUBERNETES_VERSION: release } },
    );
    const totalSeconds = Number(((performance.now() - started) / 1000).toFixed(0));
    // A run that failed before any test (its cluster never came up) leaves no timings.
    const timesFile = join(REPORTS, "suite-times.json");
    const times = existsSync(timesFile)
      ? (JSON.parse(readFileSync(timesFile, "utf8")) as { at: string; timings: ProjectTiming[] })
      : undefined;
    const fresh = times && new Date(times.at).getTime() >= Date.now() - totalSeconds * 1000 - 5_000;
    rows.push({
      release,
      versions: images.versions,
      passed: result.code === 0,
      totalSeconds,
      suites: fresh ? times.timings : [],
    });
    console.log(`[kubernetes] ${release}: ${result.code === 0 ? "passed" : "FAILED"} in ${totalSeconds} s`);
  }
  const report = { measuredAt: new Date().toISOString(), suites: SUITES, releases: rows };
  const markdown = [
    "### Kubernetes version matrix",
    "",
    `The ${SUITES.join(" and ")} suites on a fresh four-node cluster of each release (\`npm run test:kubernetes\`), ${report.measuredAt}.`,
    "",
    markdownTable(
      ["release", "Kubernetes", "etcd", "CoreDNS", ...SUITES.map((s) => `${s} suite`), "whole run", "verdict"],
      rows.map((row) => [
        row.release,
        row.versions.kubernetes ?? "?",
        row.versions.etcd ?? "?",
        row.versions.coredns ?? "?",
        ...SUITES.map((suite) => {
          const timing = row.suites.find((t) => t.project === suite);
          return timing ? `${timing.wallSeconds} s (${timing.tests} tests)` : "not run";
        }),
        `${row.totalSeconds} s`,
        row.passed ? "passed" : "FAILED",
      ]),
    ),
  ].join("\n");
  const written = writeReport("kubernetes-matrix", report, markdown);
  console.log(`${markdown}\n-> ${written.json}`);
  if (rows.some((row) => !row.passed)) process.exitCode = 1;
});
