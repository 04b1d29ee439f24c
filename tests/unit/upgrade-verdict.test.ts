import { describe, expect, test } from "vitest";
import { type PromiseVerdict, platformContract } from "../../src/contract.ts";
import type { Prediction } from "../../src/upgrade/prediction.ts";
import type { RolloutObservation } from "../../src/upgrade/rollout.ts";
import { judgeStep, refusedField, type StepEvidence } from "../../src/upgrade/verdict.ts";

const budgets = platformContract().terms["prod-01"]?.budgets.upgradeStep as StepEvidence["budgets"];

function observation(change: Partial<RolloutObservation> = {}, writes: Partial<RolloutObservation["writes"]> = {}) {
  const base: RolloutObservation = {
    action: "helm upgrade",
    secondsToConverged: 50,
    restarts: [{ pod: "valkey-2", stoppedAt: 3, readyAt: 15 }],
    containerRestarts: [],
    writes: {
      waitedFor: 2,
      attempted: 1000,
      acknowledged: 900,
      acknowledgedBefore: 150,
      acknowledgedAfter: 120,
      lost: 0,
      lostByPod: {},
      outOfSync: [],
      refused: 80,
      unknown: 20,
      unavailableSeconds: 20,
      errors: {},
    },
    load: { rate: 200, operations: 10_000, errors: 30, errorSeconds: 15, p50Millis: 2, p99Millis: 300, maxMillis: 900 },
    timeline: [],
    events: [],
  };
  return { ...base, ...change, writes: { ...base.writes, ...writes } };
}

const restart: Prediction = {
  kind: "restart",
  reason: "the pod template changes",
  podTemplateChanges: ["spec.template.x"],
  immutableChanges: [],
  otherChanges: [],
};
const kept = (promise: PromiseVerdict["promise"], isKept = true): PromiseVerdict => ({
  promise,
  asks: "something",
  kept: isKept,
  found: isKept ? "it" : "not it",
  path: "some.path",
});

function evidence(change: Partial<StepEvidence> = {}): StepEvidence {
  return {
    env: "prod-01",
    kind: "upgrade",
    from: "0.9.0",
    to: "0.9.4",
    namespace: "ns",
    prediction: restart,
    observation: observation(),
    settings: [{ check: "config.min-replicas", promise: "x", result: "pass" }],
    budgets,
    contract: { before: [kept("authentication")], after: [kept("authentication")] },
    ...change,
  };
}

describe("an upgrade step's verdict", () => {
  test("passes a step that kept everything", () => {
    expect(judgeStep(evidence()).failures).toEqual([]);
  });

  test.each<[string, Partial<StepEvidence>, RegExp]>([
    [
      "a missed prediction",
      { prediction: { ...restart, kind: "no-restart" } },
      /predicted no-restart .* but the change did: restart/,
    ],
    [
      "a promise the old revision kept and the new one drops",
      { contract: { before: [kept("authentication")], after: [kept("authentication", false)] } },
      /promise dropped: prod-01 authentication \(0\.9\.0 kept it; 0\.9\.4 says not it/,
    ],
    [
      "a promise neither revision keeps",
      { contract: { before: [kept("reclaimPolicy", false)], after: [kept("reclaimPolicy", false)] } },
      /promise broken: prod-01 reclaimPolicy/,
    ],
    [
      "a lost write on a replica",
      { observation: observation({}, { lost: 2, lostByPod: { "2": 2 } }) },
      /2 acknowledged write\(s\) lost .*pod 2 lacks 2/,
    ],
    [
      "a replica that never caught up",
      { observation: observation({}, { outOfSync: ["pod 1: link down"] }) },
      /never caught up.*pod 1: link down/,
    ],
    [
      "no write acknowledged before the action",
      { observation: observation({}, { acknowledgedBefore: 0 }) },
      /only 0 write\(s\) acknowledged \(WAIT 2\) before/,
    ],
    [
      "writes that never resumed",
      { observation: observation({}, { acknowledgedAfter: 3 }) },
      /only 3 write\(s\) .*after the release converged.*did not resume/,
    ],
    [
      "an outage over the budget",
      { observation: observation({}, { unavailableSeconds: budgets.writesUnavailableSeconds + 1 }) },
      /writes unavailable for \d+ s, over the contract's budget/,
    ],
    [
      "a p99 over the budget",
      { observation: observation({ load: { ...observation().load, p99Millis: budgets.loadP99Millis + 1 } }) },
      /p99 was \d+ ms, over the contract's/,
    ],
    [
      "errors over the budget",
      { observation: observation({ load: { ...observation().load, errorSeconds: budgets.loadErrorSeconds + 1 } }) },
      /saw errors in \d+ s of the step/,
    ],
    [
      "a container restarted in place",
      {
        observation: observation({
          containerRestarts: [{ pod: "valkey-1", container: "valkey", from: 0, to: 1, at: 12, reason: "OOMKilled" }],
        }),
      },
      /container valkey of valkey-1 restarted in place .*OOMKilled/,
    ],
    [
      "a blind watcher",
      { observation: observation({ watcherBlind: "the pods could not be listed" }) },
      /pod watcher was blind/,
    ],
    [
      "a setting not in effect",
      { settings: [{ check: "config.min-replicas", promise: "x", result: "fail", message: "expected 2" }] },
      /config\.min-replicas is not in effect: expected 2/,
    ],
    ["the data changed", { dataProblem: "the dataset differs on pod 1" }, /the dataset differs on pod 1/],
    [
      "an unexpected helm error",
      { observation: observation({ error: "Error: context deadline exceeded", restarts: [] }) },
      /failed unexpectedly: Error: context deadline exceeded/,
    ],
  ])("fails on %s", (_, change, message) => {
    const { failures } = judgeStep(evidence(change));
    expect(failures.join("\n")).toMatch(message);
  });

  const refusal =
    "Error: UPGRADE FAILED: cannot patch \"valkey\" with kind StatefulSet: StatefulSet.apps \"valkey\" is invalid: spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden";
  const rejected: Prediction = {
    kind: "rejected",
    reason: "immutable",
    podTemplateChanges: [],
    immutableChanges: ['spec.volumeClaimTemplates[0].spec.resources.requests.storage: "10Gi" -> "20Gi"'],
    immutableStatefulSet: "valkey",
    otherChanges: [],
  };

  test("fails a predicted refusal that happens, naming the field and the migration an operator must run", () => {
    const verdict = judgeStep(
      evidence({ prediction: rejected, observation: observation({ error: refusal, restarts: [] }) }),
    );
    expect(verdict.outcome).toBe("rejected");
    expect(verdict.predictionHeld).toBe(true);
    expect(verdict.failures.join("\n")).toMatch(
      /refused the upgrade: StatefulSet\/valkey cannot change spec\.volumeClaimTemplates\[0\]\.spec\.resources\.requests\.storage in place.*kubectl delete statefulset valkey -n ns --cascade=orphan/,
    );
    expect(verdict.migration).toMatch(/--cascade=orphan/);
  });

  test("fails a predicted refusal of a StorageClass change, with its migration", () => {
    const classRefusal =
      'Error: UPGRADE FAILED: cannot patch "valkey-dev-01" with kind StorageClass: StorageClass.storage.k8s.io "valkey-dev-01" is invalid: parameters: Forbidden: updates to parameters are forbidden.';
    const verdict = judgeStep(
      evidence({
        prediction: {
          ...rejected,
          immutableChanges: ['StorageClass/valkey-dev-01.parameters.type: "pd-balanced" -> "pd-ssd"'],
          immutableStatefulSet: undefined,
          immutableStorageClass: "valkey-dev-01",
        },
        observation: observation({ error: classRefusal, restarts: [] }),
      }),
    );
    expect(verdict.predictionHeld).toBe(true);
    expect(verdict.failures.join("\n")).toMatch(/refused the upgrade: StorageClass\/valkey-dev-01 cannot change/);
    expect(verdict.migration).toMatch(
      /^kubectl delete storageclass valkey-dev-01, then run the same helm upgrade again/,
    );
    expect(
      refusedField(
        'StorageClass.storage.k8s.io "c" is invalid: volumeBindingMode: Invalid value: "Immediate": field is immutable',
      ),
    ).toEqual({
      object: "StorageClass/c",
      field: "volumeBindingMode",
    });
  });

  test("does not take any helm error for the predicted refusal", () => {
    const verdict = judgeStep(
      evidence({ prediction: rejected, observation: observation({ error: "Error: timed out waiting", restarts: [] }) }),
    );
    expect(verdict.failures.join("\n")).toMatch(
      /predicted a refusal of .*but the upgrade failed otherwise: Error: timed out/,
    );
    expect(verdict.migration).toBeUndefined();
  });

  test("reads the refused object and field from the API server's words", () => {
    expect(refusedField(refusal)).toEqual({ object: "StatefulSet/valkey", field: "spec" });
    expect(
      refusedField(
        'StorageClass.storage.k8s.io "valkey" is invalid: parameters: Forbidden: updates to parameters are forbidden.',
      ),
    ).toEqual({ object: "StorageClass/valkey", field: "parameters" });
  });

  test("the baseline and the rollback run the walk's base: its contract findings are warnings, not failures", () => {
    const broken = { before: [kept("appendOnly", false)], after: [kept("appendOnly", false)] };
    const live = [
      { check: "contract.append-only", promise: "x", result: "fail" as const, message: "pod 0 runs appendonly no" },
    ];
    for (const kind of ["rolling restart (baseline)", "rollback"] as const) {
      const verdict = judgeStep(evidence({ kind, contract: broken, settings: live }));
      expect(verdict.failures).toEqual([]);
      expect(verdict.warnings.join("\n")).toMatch(
        /contract\.append-only is not in effect[\s\S]*promise broken: prod-01 appendOnly/,
      );
    }
    expect(judgeStep(evidence({ contract: broken, settings: live })).failures).toHaveLength(2);
  });

  test("a restart of the walk's base over the budgets is a warning: the base's restart path is what the platform runs today", () => {
    const slow = observation({}, { unavailableSeconds: budgets.writesUnavailableSeconds + 5 });
    const baseline = judgeStep(evidence({ kind: "rolling restart (baseline)", observation: slow }));
    expect(baseline.failures).toEqual([]);
    expect(baseline.warnings.join("\n")).toMatch(/writes unavailable for \d+ s, over the contract's budget/);
    expect(judgeStep(evidence({ observation: slow })).failures.join("\n")).toMatch(/over the contract's budget/);
  });

  test("a rollback to a base that never kept a newer promise is a warning, not a failure", () => {
    const verdict = judgeStep(
      evidence({
        kind: "rollback",
        contract: { before: [kept("appendOnly", false)], after: [kept("appendOnly", false)] },
      }),
    );
    expect(verdict.failures).toEqual([]);
    expect(verdict.warnings.join("\n")).toMatch(/promise broken: prod-01 appendOnly/);
  });
});
