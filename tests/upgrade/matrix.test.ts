import { afterAll, describe } from "vitest";
import { checkReportRenders, findChromium } from "../../src/report/browser-check.ts";
import { UPGRADE_SCHEMA, type UpgradeReport, writeUpgradeReport } from "../../src/report/upgrade.ts";
import { isCI } from "../../src/settings.ts";
import { upgradePlan, type Walk } from "../../src/upgrade/plan.ts";
import { clusterUnavailable, test } from "../support/fixtures.ts";
import { walkAndReport } from "../support/walks.ts";

/**
 * Upgrades as production lives them: each environment installed at the first revision
 * of its walk, then a plain rolling restart (the baseline), each upgrade, and a rollback
 * to the start, every one under an acknowledged-write writer (WAIT minReplicasToWrite)
 * and an open-loop load, with the pods' and containers' restarts timed, the outcome
 * predicted from the rendered manifests beforehand, the environment's settings and the
 * platform's contract read back from the live pods afterwards, every acknowledged write
 * looked up on every pod, and the outage and latency held to the contract's budgets
 * (src/upgrade/walk.ts, src/upgrade/verdict.ts).
 */
const plan = upgradePlan();
if (plan.nothingToDo && !clusterUnavailable) {
  if (isCI())
    throw new Error(`${plan.nothingToDo}. Fill the chart cache (docs/offline.md) or set VALKEY_UPGRADE_CANDIDATES.`);
  console.warn(`SKIPPED: the upgrade suite: ${plan.nothingToDo}`);
}

const report: UpgradeReport = {
  schema: UPGRADE_SCHEMA,
  createdAt: new Date().toISOString(),
  helm: "",
  walks: [],
  steps: [],
};

describe.skipIf(!!clusterUnavailable || !!plan.nothingToDo)(`upgrades under load: ${plan.description}`, () => {
  afterAll(async () => {
    if (report.steps.length === 0) return;
    const paths = writeUpgradeReport(report);
    console.log(`[upgrade] reports: ${paths.markdown}, ${paths.html}`);
    const chromium = await findChromium();
    if (!chromium) {
      if (isCI()) throw new Error("no headless Chromium to check the upgrade report: apt-get install chromium");
      console.warn("[upgrade] no Chromium on this machine: the HTML report was not checked in a browser");
      return;
    }
    const rendered = await checkReportRenders(chromium, paths.html, report.steps.length);
    console.log(
      `[upgrade] ${paths.html} renders ${rendered.charts} charts in Chromium; screenshot ${rendered.screenshot}`,
    );
  });

  test.concurrent.for(plan.walks.map((walk) => ({ ...walk, path: walk.revisions.join(" -> ") })))(
    "$env: $path keeps the platform's contract, loses no acknowledged write on any pod, stays within its budgets, matches the predicted rollout, keeps the data and applies every setting",
    async (walk: Walk, { cluster, helm, namespaces, monitoring, contract, onTestFailed }) => {
      await walkAndReport(
        { cluster, helm, namespaces, monitoring, contract, onTestFailed },
        walk.env,
        walk.revisions,
        report,
        "upgrade",
      );
    },
  );
});
