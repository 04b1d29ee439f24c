import type { Budgets, PromiseVerdict } from "../contract.ts";
import type { SettingVerdict } from "../report/upgrade.ts";
import type { Prediction, RolloutKind } from "./prediction.ts";
import { type RolloutObservation, WRITES_EACH_SIDE } from "./rollout.ts";

export type StepKind = "rolling restart (baseline)" | "upgrade" | "migration" | "rollback";

/** Everything a step's verdict is made from. */
export interface StepEvidence {
  env: string;
  kind: StepKind;
  from: string;
  to: string;
  namespace: string;
  prediction?: Prediction;
  observation: RolloutObservation;
  /** The non-disruptive checks after the step (the contract's live checks among them). */
  settings: SettingVerdict[];
  budgets: Budgets["upgradeStep"];
  /** The contract judged on paper: the values of the revision before the step and after it. */
  contract: { before: PromiseVerdict[]; after: PromiseVerdict[] };
  /** The dataset written after install, read back from every pod, or the rollout not where the step put it. */
  dataProblem?: string;
  /** The walk's base revision (what the platform runs today); steps that go back to it only warn about it. */
  base?: string;
}

export interface StepVerdict {
  outcome: RolloutKind;
  predictionHeld?: boolean;
  failures: string[];
  /** Said in the report, not failing: what a rollback would drop that the base revision never kept. */
  warnings: string[];
  /** What an operator must run for a refused upgrade (the harness runs it to continue the walk). */
  migration?: string;
}

/** What the API server refused, from its error: `StatefulSet/valkey spec` or `StorageClass/valkey parameters`. */
export function refusedField(error: string): { object: string; field: string } | undefined {
  const match =
    /(\w+)\.[\w.]+ "([^"]+)" is invalid: ([\w.[\]]+): (?:Forbidden|Invalid value: .*field is immutable)/.exec(error);
  return match ? { object: `${match[1]}/${match[2]}`, field: match[3] as string } : undefined;
}

/** The migration an operator runs for a refused change of immutable StorageClass fields. */
export function storageClassMigration(name: string): string {
  return `kubectl delete storageclass ${name}, then run the same helm upgrade again: Helm creates the class anew; volumes already bound keep their PersistentVolumes as provisioned, only volumes provisioned later get the new settings (the class is cluster-wide: check that no other release uses it)`;
}

/** The migration an operator runs for a refused change of immutable StatefulSet fields. */
export function statefulSetMigration(name: string, namespace: string): string {
  return `kubectl delete statefulset ${name} -n ${namespace} --cascade=orphan, then run the same helm upgrade again: the pods and their volumes keep running and the new StatefulSet adopts them (existing volume claims keep their old spec; resize each claim by hand where the class allows expansion)`;
}

export function outcomeOf(observation: RolloutObservation): RolloutKind {
  return observation.error ? "rejected" : observation.restarts.length > 0 ? "restart" : "no-restart";
}

/**
 * Judges one step of an upgrade walk. Every line of the returned failures fails the pull
 * request: the prediction missed, a refusal by the API server (with the field and the
 * migration), a pod or container the watcher could not account for, too few writes to
 * measure anything, an acknowledged write missing on any pod, an outage, latency or error
 * budget exceeded, a setting or contract promise not in effect, or the data changed.
 */
export function judgeStep(evidence: StepEvidence): StepVerdict {
  const { observation: o, prediction, budgets } = evidence;
  const outcome = outcomeOf(o);
  const failures: string[] = [];
  const warnings: string[] = [];
  let migration: string | undefined;
  const predictionHeld = prediction ? prediction.kind === outcome : undefined;
  if (predictionHeld === false)
    failures.push(`predicted ${prediction?.kind} (${prediction?.reason}), but the change did: ${outcome}`);

  if (o.error) {
    const refused = refusedField(o.error);
    const predictedObjects = [
      prediction?.immutableStorageClass && `StorageClass/${prediction.immutableStorageClass}`,
      prediction?.immutableStatefulSet && `StatefulSet/${prediction.immutableStatefulSet}`,
    ].filter(Boolean);
    if (prediction?.kind === "rejected" && refused && predictedObjects.includes(refused.object)) {
      const fields = [...new Set(prediction.immutableChanges.map((c) => c.split(":")[0]))].join(", ");
      migration = [
        prediction.immutableStorageClass && storageClassMigration(prediction.immutableStorageClass),
        prediction.immutableStatefulSet && statefulSetMigration(prediction.immutableStatefulSet, evidence.namespace),
      ]
        .filter(Boolean)
        .join("; and ");
      failures.push(
        `the API server refused the upgrade: ${refused.object} cannot change ${fields} in place (${refused.field}: Forbidden). Migration an operator must run: ${migration}`,
      );
    } else if (prediction?.kind === "rejected") {
      failures.push(
        `predicted a refusal of ${prediction.immutableChanges.join("; ")}, but the ${evidence.kind} failed otherwise: ${o.error.split("\n")[0]}`,
      );
    } else {
      failures.push(`${evidence.kind} failed unexpectedly: ${o.error.split("\n")[0]}`);
    }
  }

  if (o.watcherBlind) failures.push(`the pod watcher was blind: ${o.watcherBlind}`);
  for (const c of o.containerRestarts)
    failures.push(
      `container ${c.container} of ${c.pod} restarted in place at ${c.at} s (restartCount ${c.from} -> ${c.to}${c.reason ? `, last state ${c.reason}` : ""}): a liveness probe or the OOM killer, not the rollout`,
    );

  const w = o.writes;
  if (w.acknowledgedBefore < WRITES_EACH_SIDE)
    failures.push(
      `only ${w.acknowledgedBefore} write(s) acknowledged (WAIT ${w.waitedFor}) before the ${evidence.kind} started (at least ${WRITES_EACH_SIDE}): the ledger measured nothing`,
    );
  if (w.acknowledgedAfter < WRITES_EACH_SIDE)
    failures.push(
      `only ${w.acknowledgedAfter} write(s) acknowledged (WAIT ${w.waitedFor}) after the release converged (at least ${WRITES_EACH_SIDE}): writes did not resume`,
    );
  if (w.lost > 0)
    failures.push(
      `${w.lost} acknowledged write(s) lost during the ${evidence.kind} (${Object.entries(w.lostByPod)
        .map(([pod, n]) => `pod ${pod} lacks ${n}`)
        .join(", ")})`,
    );
  for (const pod of w.outOfSync) failures.push(`replica never caught up with the primary after the step: ${pod}`);
  // The baseline and the rollback run the revision the walk started from (what the platform
  // runs today): its contract findings and the cost of its restarts are said, not failed; the
  // revision under test is judged by the upgrade steps.
  const atBase =
    evidence.kind === "rolling restart (baseline)" ||
    evidence.kind === "rollback" ||
    (evidence.kind === "migration" && evidence.base !== undefined && evidence.to === evidence.base);
  const overBudget: string[] = [];
  if (w.unavailableSeconds > budgets.writesUnavailableSeconds)
    overBudget.push(
      `writes unavailable for ${w.unavailableSeconds} s, over the contract's budget of ${budgets.writesUnavailableSeconds} s per upgrade step`,
    );
  if (o.load.p99Millis > budgets.loadP99Millis)
    overBudget.push(
      `the cache load's p99 was ${o.load.p99Millis.toFixed(0)} ms, over the contract's ${budgets.loadP99Millis} ms`,
    );
  if (o.load.errorSeconds > budgets.loadErrorSeconds)
    overBudget.push(
      `the cache load saw errors in ${o.load.errorSeconds} s of the step, over the contract's ${budgets.loadErrorSeconds} s`,
    );
  (atBase ? warnings : failures).push(...overBudget);

  for (const s of evidence.settings.filter((v) => v.result === "fail")) {
    const line = `after the ${evidence.kind} to ${evidence.to}, ${s.check} is not in effect: ${s.message}`;
    if (atBase && s.check.startsWith("contract.")) warnings.push(line);
    else failures.push(line);
  }

  for (const after of evidence.contract.after.filter((v) => !v.kept)) {
    const before = evidence.contract.before.find((v) => v.promise === after.promise);
    const label = `${evidence.env} ${after.promise}`;
    const line = before?.kept
      ? `promise dropped: ${label} (${evidence.from} kept it; ${evidence.to} says ${after.found} at ${after.path}; the contract asks ${after.asks})`
      : `promise broken: ${label} (neither ${evidence.from} nor ${evidence.to} keeps it: ${after.found} at ${after.path}; the contract asks ${after.asks})`;
    if (atBase) warnings.push(line);
    else failures.push(line);
  }
  if (evidence.dataProblem) failures.push(evidence.dataProblem);
  return { outcome, predictionHeld, failures, warnings, migration };
}
