import type { Helm } from "../chart/helm.ts";
import { installRelease, type Release } from "../chart/release.ts";
import { environmentValues } from "../chart/values.ts";
import { stageChart } from "../chart/wrapper.ts";
import type { CheckContext } from "../checks/index.ts";
import {
  type Contract,
  contractChanges,
  contractOf,
  judgeValues,
  type PromiseVerdict,
  type Terms,
} from "../contract.ts";
import { statusCode, waitFor } from "../kube/index.ts";
import type { UpgradeStep } from "../report/upgrade.ts";
import { parseInfo, withClient, writeDataset } from "../valkey/index.ts";
import { type Prediction, predictRollout } from "./prediction.ts";
import type { Revision } from "./revision.ts";
import { datasetBroken, observeRollout, type RolloutObservation, rollingRestart } from "./rollout.ts";
import { settingsInEffect } from "./settings-in-effect.ts";
import { judgeStep, outcomeOf, type StepKind } from "./verdict.ts";

export interface WalkContext extends Omit<CheckContext, "release" | "expected" | "contract"> {
  helm: Helm;
  /** The contract when no revision of the walk carries one (the working tree's). */
  contract: Contract;
}

export interface WalkResult {
  env: string;
  /** The contract every step was judged by: the walk's last revision's. */
  contractFile: string;
  /** How the contract changed from the first revision to the last: shown first in the report. */
  contractChanges: string[];
  steps: UpgradeStep[];
  /** Every step's failures, prefixed with the step. */
  failures: string[];
}

/** The contract a walk is judged by: its target's (a pull request's own contract), else the working tree's. */
export function contractForWalk(revisions: readonly Revision[], fallback: Contract): Contract {
  return contractOf((revisions.at(-1) as Revision).chartDir) ?? fallback;
}

/**
 * One environment installed at the first revision, then a rolling restart (the baseline),
 * each upgrade in turn and a rollback to the start, every step under load and judged
 * (src/upgrade/verdict.ts). A refused upgrade fails its step with the migration named; the
 * walk then performs that migration as a step of its own and goes on.
 */
export async function walkUpgrade(
  context: WalkContext,
  env: string,
  revisions: readonly Revision[],
  namespace: string,
  onRelease: (release: Release) => void = () => {},
): Promise<WalkResult> {
  const { helm, cluster, log } = context;
  const first = revisions[0] as Revision;
  const contract = contractForWalk(revisions, context.contract);
  const terms = contract.terms[env] as Terms;
  const checkContext = { ...context, contract };
  const onPaper = (revision: Revision): PromiseVerdict[] =>
    judgeValues(terms, environmentValues(env, revision.chartDir));
  const last = revisions.at(-1) as Revision;
  const result: WalkResult = {
    env,
    contractFile: contractOf(last.chartDir)
      ? `charts/valkey/contract.yaml of ${last.label}`
      : "the working tree's charts/valkey/contract.yaml",
    contractChanges: contractChanges(contractOf(first.chartDir), contractOf(last.chartDir)),
    steps: [],
    failures: [],
  };
  for (const change of result.contractChanges) log(`[upgrade ${env}] contract changed: ${change}`);

  await cluster.kube.createNamespace(namespace);
  const release = await installRelease(helm, cluster, {
    env,
    namespace,
    chartDir: first.chartDir,
    upstreamVersion: first.upstreamVersion,
  });
  onRelease(release);
  const installed = release.snapshot();
  const dataset = await withClient(await release.endpoint("primary"), release.clientCredentials, (c) =>
    writeDataset(c, `upgrade:${env}`, 2_000),
  );

  const record = async (
    kind: StepKind,
    from: Revision,
    to: Revision,
    observation: RolloutObservation,
    prediction: Prediction | undefined,
    settings: UpgradeStep["settings"],
  ) => {
    const rejected = outcomeOf(observation) === "rejected";
    const dataProblem = rejected
      ? undefined
      : ((await datasetBroken(release, dataset)) ?? (await notRolledOutTo(release, to.upstreamVersion)));
    const evidence = {
      env,
      kind,
      from: from.label,
      to: to.label,
      namespace,
      prediction,
      observation,
      settings,
      budgets: terms.budgets.upgradeStep,
      contract: { before: onPaper(from), after: onPaper(to) },
      dataProblem,
      base: first.label,
    };
    const verdict = judgeStep(evidence);
    const step: UpgradeStep = {
      ...evidence,
      outcome: verdict.outcome,
      predictionHeld: verdict.predictionHeld,
      result: verdict.failures.length === 0 ? "pass" : "fail",
      failures: verdict.failures,
      warnings: verdict.warnings,
      migration: verdict.migration,
    };
    result.steps.push(step);
    result.failures.push(...verdict.failures.map((f) => `${kind} ${from.label} -> ${to.label}: ${f}`));
    for (const warning of verdict.warnings) log(`[upgrade ${env}] ${kind} ${from.label} -> ${to.label}: ${warning}`);
    return verdict;
  };

  /**
   * Runs the refused change's migration: deletes the StorageClass, and the StatefulSet but not
   * its pods, whichever the prediction named; then `redo` (the refused helm command) again,
   * under observation.
   */
  const migrate = async (from: Revision, to: Revision, prediction: Prediction, redo: () => Promise<void>) => {
    const migrationPrediction: Prediction = {
      ...prediction,
      kind: prediction.podTemplateChanges.length > 0 ? "restart" : "no-restart",
      reason: `the migration recreates ${[prediction.immutableStorageClass && `StorageClass ${prediction.immutableStorageClass}`, prediction.immutableStatefulSet && `StatefulSet ${prediction.immutableStatefulSet} around its running pods`].filter(Boolean).join(" and ")}; ${prediction.podTemplateChanges.length > 0 ? "the pod template changes too, so every pod restarts" : "the pod template is the same, so no pod restarts"}`,
    };
    const observation = await observeRollout(
      release,
      `migration to ${to.label}`,
      async () => {
        if (prediction.immutableStorageClass) await deleteStorageClass(release, prediction.immutableStorageClass);
        if (prediction.immutableStatefulSet) await orphanStatefulSet(release, prediction.immutableStatefulSet);
        await redo();
      },
      { log },
    );
    const settings = observation.error ? [] : await settingsInEffect(release, checkContext);
    return record("migration", from, to, observation, migrationPrediction, settings);
  };

  const afterInstall = await settingsInEffect(release, checkContext);
  const baseline = await observeRollout(release, "rolling restart", () => rollingRestart(release), { log });
  await record("rolling restart (baseline)", first, first, baseline, undefined, afterInstall);

  let current = first;
  for (const next of revisions.slice(1)) {
    const before = await release.target();
    const after = await release.target({ chartDir: next.chartDir, upstreamVersion: next.upstreamVersion });
    const prediction = await predictRollout(helm, before, after, release.name, release.namespace);
    log(`[upgrade ${env}] ${current.label} -> ${next.label}: predicted ${prediction.reason}`);
    const upgrade = () => release.upgrade({ chartDir: next.chartDir, upstreamVersion: next.upstreamVersion });
    const observation = await observeRollout(release, `helm upgrade to ${next.label}`, upgrade, { log });
    const refused = outcomeOf(observation) === "rejected";
    if (refused) release.restore(before);
    const settings = refused ? [] : await settingsInEffect(release, checkContext);
    const verdict = await record("upgrade", current, next, observation, prediction, settings);
    if (refused) {
      if (!verdict.migration) break;
      const migration = await migrate(current, next, prediction, upgrade);
      if (migration.outcome === "rejected") break;
    }
    current = next;
  }

  if (current !== first) {
    const latest = await release.target();
    const back = { ...installed, chart: await stageChart(helm, installed.upstreamVersion, installed.chartDir) };
    const prediction = await predictRollout(helm, latest, back, release.name, release.namespace);
    const rollback = () => release.rollback(1);
    const observation = await observeRollout(release, `helm rollback to ${first.label}`, rollback, { log });
    const refused = outcomeOf(observation) === "rejected";
    if (!refused) release.restore(installed);
    const settings = refused ? [] : await settingsInEffect(release, checkContext);
    const verdict = await record("rollback", current, first, observation, prediction, settings);
    if (refused && verdict.migration) {
      await migrate(current, first, prediction, rollback);
      release.restore(installed);
    }
  }
  return result;
}

/** Deletes a StorageClass (bound volumes keep running), then waits until it is gone. */
async function deleteStorageClass(release: Release, name: string): Promise<void> {
  const storage = release.cluster.kube.storage;
  await storage.deleteStorageClass({ name });
  await waitFor(
    `StorageClass ${name} to be deleted`,
    () =>
      storage.readStorageClass({ name }).then(
        () => false,
        (error) => statusCode(error) === 404,
      ),
    { timeoutMs: 60_000, intervalMs: 250 },
  );
}

/** Deletes a StatefulSet and leaves its pods running (`kubectl delete --cascade=orphan`), then waits until it is gone. */
async function orphanStatefulSet(release: Release, name: string): Promise<void> {
  const apps = release.cluster.kube.apps;
  await apps.deleteNamespacedStatefulSet({ name, namespace: release.namespace, propagationPolicy: "Orphan" });
  await waitFor(
    `StatefulSet ${name} to be deleted (its pods kept)`,
    () =>
      apps.readNamespacedStatefulSet({ name, namespace: release.namespace }).then(
        () => false,
        (error) => statusCode(error) === 404,
      ),
    { timeoutMs: 60_000, intervalMs: 250 },
  );
}

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
