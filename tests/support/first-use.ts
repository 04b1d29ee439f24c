/**
 * One process's first use of the harness's cache (VALKEY_HARNESS_CACHE): both Helm majors,
 * the staged wrapper chart, a render with it, and a git revision's chart. Prints what it
 * got as JSON, for tests/chart/first-use.test.ts to compare across processes started at once.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Helm } from "../../src/chart/helm.ts";
import { pinnedUpstreamVersion, renderChart, stageChart } from "../../src/chart/wrapper.ts";
import { environmentValuesFile } from "../../src/environments.ts";
import { listFiles } from "../../src/files.ts";
import { resolveRevision } from "../../src/upgrade/revision.ts";

const digest = (files: string[], root: string) => {
  const hash = createHash("sha256");
  for (const file of files) hash.update(file.slice(root.length)).update("\0").update(readFileSync(file));
  return hash.digest("hex").slice(0, 16);
};

const [helm4, helm3] = await Promise.all([Helm.resolve("4"), Helm.resolve("3")]);
const staged = await stageChart(helm4, pinnedUpstreamVersion());
const rendered = await renderChart(helm4, staged, { valuesFiles: [environmentValuesFile("dev-01")] });
const revision = await resolveRevision("HEAD");
console.log(
  JSON.stringify({
    helm4: helm4.version,
    helm3: helm3.version,
    helm4Binary: digest([helm4.binary], helm4.binary),
    helm3Binary: digest([helm3.binary], helm3.binary),
    staged: digest(listFiles(staged), staged),
    render: createHash("sha256").update(JSON.stringify(rendered)).digest("hex").slice(0, 16),
    revision: digest(listFiles(revision.chartDir), revision.chartDir),
    revisionPath: join(revision.chartDir),
  }),
);
