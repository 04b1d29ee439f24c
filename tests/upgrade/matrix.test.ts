import { afterAll, describe } from "vitest";
import { installRelease, type Release } from "../../src/chart/release.ts";
import { stageChart } from "../../src/chart/wrapper.ts";
import { checkReportRenders, findChromium } from "../../src/report/browser-check.ts";
import { type UpgradeReport, type UpgradeStep, writeUpgradeReport } from "../../src/report/upgrade.ts";
import { isCI } from "../../src/settings.ts";
import { upgradePlan, type Walk } from "../../src/upgrade/plan.ts";
import { predictRollout, type RolloutKind } from "../../src/upgrade/prediction.ts";
import { type Revision, resolveRevision } from "../../src/upgrade/revision.ts";
import { datasetBroken, observeRollout, type RolloutObservation, rollingRestart } from "../../src/upgrade/rollout.ts";
import { settingsInEffect } from "../../src/upgrade/settings-in-effect.ts";
import { parseInfo, withClient, writeDataset } from "../../src/valkey/index.ts";
import { clusterUnavailable, test } from "../support/fixtures.ts";

/**
 * Upgrades as production lives them: each environment installed at the first revision
 * of its walk, then a plain rolling restart (the baseline), each upgrade, and a rollback
 * to the start, every one under an acknowledged-write writer and an open-loop load, with
 * the pods' restarts timed, the outcome predicted from the rendered manifests beforehand,
 * and the environment's settings read back from the live pods afterwards.
 */
const plan = upgradePlan();
if (plan.nothingToDo && !clusterUnavailable) {
  if (isCI())
    throw new Error(
      `${plan.nothingToDo}. Fill the chart cache (README, "Offline use") or set VALKEY_UPGRADE_CANDIDATES.`,
    );
  console.warn(`SKIPPED: the upgrade suite: ${plan.nothingToDo}`);
}

const report: UpgradeReport = {
  schema: 2,
  createdAt: new Date().toISOString(),
  helm: "",
  walks: [],
  steps: [],
};

const happened = (observation: RolloutObservation): RolloutKind =>
  observation.error ? "rejected" : observation.restarts.length > 0 ? "restart" : "no-restart";

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
    "$env: $path loses no acknowledged write, matches the predicted rollout, keeps the data and applies every setting",
    async (walk: Walk, { cluster, helm, namespaces, monitoring, onTestFailed }) => {
      report.helm = String(helm);
      const revisions: Revision[] = [];
      for (const spec of walk.revisions) revisions.push(await resolveRevision(spec));
      report.walks.push({ env: walk.env, revisions: revisions.map((r) => r.label) });
      const first = revisions[0] as Revision;
      const namespace = `upgrade-${walk.env}-${Math.random().toString(36).slice(2, 7)}`;
      const log = (line: string) => console.log(line);
      let release: Release | undefined;
      onTestFailed(async () => {
        if (release) console.error(await release.diagnostics());
      });
      const failures: string[] = [];
      try {
        await cluster.kube.createNamespace(namespace);
        const r = await installRelease(helm, cluster, {
          env: walk.env,
          namespace,
          chartDir: first.chartDir,
          upstreamVersion: first.upstreamVersion,
        });
        release = r;
        const installed = r.snapshot();
        const dataset = await withClient(await r.endpoint("primary"), r.clientCredentials, (c) =>
          writeDataset(c, `upgrade:${walk.env}`, 2_000),
        );
        const context = { cluster, namespaces, monitoring, log };

        const record = async (
          kind: UpgradeStep["kind"],
          from: Revision,
          to: Revision,
          observation: RolloutObservation,
          prediction: UpgradeStep["prediction"],
          settings: UpgradeStep["settings"],
        ) => {
          const outcome = happened(observation);
          const stepFailures: string[] = [];
          const predictionHeld = prediction ? prediction.kind === outcome : undefined;
          if (predictionHeld === false)
            stepFailures.push(`predicted ${prediction?.kind} (${prediction?.reason}), but the change did: ${outcome}`);
          if (observation.error && prediction?.kind !== "rejected")
            stepFailures.push(`${kind} failed: ${observation.error.split("\n")[0]}`);
          if (observation.writes.lost > 0)
            stepFailures.push(`${observation.writes.lost} acknowledged write(s) lost during the ${kind}`);
          if (outcome !== "rejected") {
            const broken = (await datasetBroken(r, dataset)) ?? (await notRolledOutTo(r, to.upstreamVersion));
            if (broken) stepFailures.push(broken);
          }
          for (const s of settings.filter((v) => v.result === "fail"))
            stepFailures.push(`after the ${kind} to ${to.label}, ${s.check} is not in effect: ${s.message}`);
          report.steps.push({
            env: walk.env,
            kind,
            from: from.label,
            to: to.label,
            prediction,
            outcome,
            predictionHeld,
            observation,
            settings,
            result: stepFailures.length === 0 ? "pass" : "fail",
            failures: stepFailures,
          });
          failures.push(...stepFailures.map((f) => `${kind} ${from.label} -> ${to.label}: ${f}`));
          return outcome;
        };

        // The baseline: what a plain rolling restart of the installed revision costs.
        const afterInstall = await settingsInEffect(r, context);
        const baseline = await observeRollout(r, "rolling restart", () => rollingRestart(r), { log });
        await record("rolling restart (baseline)", first, first, baseline, undefined, afterInstall);

        let current = first;
        let rejected = false;
        for (const next of revisions.slice(1)) {
          const before = await r.target();
          const after = await r.target({ chartDir: next.chartDir, upstreamVersion: next.upstreamVersion });
          const prediction = await predictRollout(helm, before, after, r.name, r.namespace);
          log(`[upgrade ${walk.env}] ${current.label} -> ${next.label}: predicted ${prediction.reason}`);
          const observation = await observeRollout(
            r,
            `helm upgrade to ${next.label}`,
            () => r.upgrade({ chartDir: next.chartDir, upstreamVersion: next.upstreamVersion }),
            { log },
          );
          const outcome = happened(observation);
          if (outcome === "rejected") r.restore(before);
          const settings = outcome === "rejected" ? [] : await settingsInEffect(r, context);
          await record("upgrade", current, next, observation, prediction, settings);
          if (outcome === "rejected") {
            rejected = true;
            break;
          }
          current = next;
        }

        if (!rejected && current !== first) {
          const latest = await r.target();
          const back = { ...installed, chart: await stageChart(helm, installed.upstreamVersion, installed.chartDir) };
          const prediction = await predictRollout(helm, latest, back, r.name, r.namespace);
          const observation = await observeRollout(r, `helm rollback to ${first.label}`, () => r.rollback(1), { log });
          r.restore(installed);
          const settings = observation.error ? [] : await settingsInEffect(r, context);
          await record("rollback", current, first, observation, prediction, settings);
        }
      } finally {
        const problems: string[] = [];
        await release?.uninstall().catch((error: Error) => problems.push(`uninstall: ${error.message}`));
        await cluster.kube
          .deleteNamespace(namespace)
          .catch((error: Error) => problems.push(`namespace ${namespace}: ${error.message}`));
        for (const problem of problems) console.error(`[upgrade ${walk.env}] cleanup: ${problem}`);
      }
      if (failures.length > 0) throw new Error(`the upgrade walk of ${walk.env} failed:\n- ${failures.join("\n- ")}`);
    },
  );
});

/**
 * Whether the release runs what the step installed: the StatefulSet's chart label names
 * the upstream version, every pod runs its current template, and every pod's server is
 * the image's version. The problem in words, or undefined.
 */
async function notRolledOutTo(release: Release, version: string): Promise<string | undefined> {
  const set = await release.cluster.kube.apps.readNamespacedStatefulSet({
    name: release.fullname,
    namespace: release.namespace,
  });
  const chart = set.metadata?.labels?.["helm.sh/chart"];
  if (chart !== `valkey-${version}`) return `the StatefulSet's chart label is ${chart}, expected valkey-${version}`;
  const imageVersion = release.fit.images?.valkey.match(/:(\d+\.\d+\.\d+)/)?.[1];
  for (const pod of await release.cluster.kube.pods(release.namespace, release.labelSelector)) {
    if (pod.metadata?.labels?.["controller-revision-hash"] !== set.status?.updateRevision)
      return `${pod.metadata?.name} does not run the StatefulSet's current template (${set.status?.updateRevision})`;
  }
  if (!imageVersion) return undefined;
  for (let i = 0; i <= release.replicas; i++) {
    const running = await withClient(
      await release.endpoint(i),
      release.clientCredentials,
      async (c) => parseInfo(await c.info("server")).valkey_version,
    );
    if (running !== imageVersion) return `pod ${i} runs valkey ${running}, expected ${imageVersion} (the image's)`;
  }
  return undefined;
}
