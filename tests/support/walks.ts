import type { Release } from "../../src/chart/release.ts";
import type { UpgradeReport } from "../../src/report/upgrade.ts";
import { type Revision, resolveRevision } from "../../src/upgrade/revision.ts";
import { type WalkContext, walkUpgrade } from "../../src/upgrade/walk.ts";

/**
 * One upgrade walk as a test runs it: the revisions resolved, the walk in a namespace of its
 * own, its steps added to `report`, the release and namespace removed whatever happened,
 * the release's diagnostics printed when the test fails. Throws the walk's failures.
 */
export async function walkAndReport(
  context: Omit<WalkContext, "log"> & { onTestFailed: (handler: () => Promise<void>) => void },
  env: string,
  specs: readonly string[],
  report: UpgradeReport,
  prefix: string,
): Promise<void> {
  const { onTestFailed, ...walkContext } = context;
  report.helm = `helm ${context.helm.version}`;
  const revisions: Revision[] = [];
  for (const spec of specs) revisions.push(await resolveRevision(spec));
  const namespace = `${prefix}-${env}-${Math.random().toString(36).slice(2, 7)}`;
  let release: Release | undefined;
  onTestFailed(async () => {
    if (release) console.error(await release.diagnostics());
  });
  let failures: string[] = [];
  try {
    const result = await walkUpgrade(
      { ...walkContext, log: (line) => console.log(line) },
      env,
      revisions,
      namespace,
      (r) => {
        release = r;
      },
    );
    failures = result.failures;
    report.walks.push({
      env,
      revisions: revisions.map((r) => r.label),
      contractFile: result.contractFile,
      contractChanges: result.contractChanges,
    });
    report.steps.push(...result.steps);
  } finally {
    const problems: string[] = [];
    await release?.uninstall().catch((error: Error) => problems.push(`uninstall: ${error.message}`));
    await context.cluster.kube
      .deleteNamespace(namespace)
      .catch((error: Error) => problems.push(`namespace ${namespace}: ${error.message}`));
    for (const problem of problems) console.error(`[upgrade ${env}] cleanup: ${problem}`);
  }
  if (failures.length > 0)
    throw new Error(`the upgrade walk of ${env} (${specs.join(" -> ")}) failed:\n- ${failures.join("\n- ")}`);
}
