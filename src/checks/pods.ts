import { PolicyV1Api } from "@kubernetes/client-node";
import { sameQuantity } from "../chart/quantity.ts";
import { type Check, Verdict } from "./check.ts";

export const containerResources: Check = {
  id: "pods.resources",
  promise:
    "gives every container of every pod the environment's limits, and its requests as fitted (fixtures/fit/rules.yaml)",
  async run({ release, cluster, expected }) {
    const verdict: Verdict = new Verdict(this.id);
    const pods = await cluster.kube.pods(release.namespace, release.labelSelector);
    verdict.equal(pods.length, expected.pods, "pods of the release");
    for (const pod of pods) {
      const containers = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
      for (const [name, want] of Object.entries(expected.resources)) {
        const container = containers.find((c) => c.name === name);
        verdict.that(container, `${pod.metadata?.name} has no container ${name}`);
        for (const kind of ["limits", "requests"] as const) {
          const found = (container.resources?.[kind] ?? {}) as Record<string, string>;
          const expectedList = want[kind] ?? {};
          verdict.equal(
            Object.keys(found).sort(),
            Object.keys(expectedList).sort(),
            `resources the ${name} container of ${pod.metadata?.name} sets in ${kind}`,
          );
          for (const [resource, quantity] of Object.entries(expectedList)) {
            verdict.that(
              sameQuantity(found[resource], quantity, resource === "cpu" ? "cpu" : "bytes"),
              `${kind}.${resource} of container ${name} in ${pod.metadata?.name}: expected ${quantity}, found ${found[resource]}`,
            );
          }
        }
      }
    }
  },
};

export const podSpread: Check = {
  id: "pods.spread",
  promise:
    "puts the environment's pod anti-affinity rule (required or preferred, per host) on every pod and spreads the pods over min(nodes, pods) nodes",
  async run({ release, cluster, expected }) {
    const verdict: Verdict = new Verdict(this.id);
    const pods = await cluster.kube.pods(release.namespace, release.labelSelector);
    for (const pod of pods) {
      const rule = pod.spec?.affinity?.podAntiAffinity;
      const required = rule?.requiredDuringSchedulingIgnoredDuringExecution ?? [];
      const preferred = (rule?.preferredDuringSchedulingIgnoredDuringExecution ?? []).map((p) => p.podAffinityTerm);
      const kind = required.length > 0 ? "required" : preferred.length > 0 ? "preferred" : "none";
      verdict.equal(kind, expected.antiAffinity.kind, `pod anti-affinity of ${pod.metadata?.name}`);
      const term = required[0] ?? preferred[0];
      verdict.equal(
        term?.topologyKey,
        expected.antiAffinity.topologyKey,
        `anti-affinity topology key of ${pod.metadata?.name}`,
      );
      const selects = term?.labelSelector?.matchLabels ?? {};
      const labels = pod.metadata?.labels ?? {};
      verdict.that(
        Object.keys(selects).length > 0 && Object.entries(selects).every(([k, v]) => labels[k] === v),
        `the anti-affinity term of ${pod.metadata?.name} selects ${JSON.stringify(selects)}, which does not match the release's own pods`,
      );
    }
    const nodes = (await cluster.kube.core.listNode()).items.length;
    const used = new Set(pods.map((p) => p.spec?.nodeName));
    verdict.equal(
      used.size,
      Math.min(nodes, pods.length),
      `nodes used by ${pods.length} pods on a ${nodes}-node cluster`,
    );
  },
};

export const disruptionBudget: Check = {
  id: "pods.disruption-budget",
  promise:
    "limits voluntary disruptions with a PodDisruptionBudget that selects every pod of the release with the declared maxUnavailable",
  notApplicable: (features) =>
    features.podDisruptionBudget ? undefined : "the environment has no PodDisruptionBudget",
  async run({ release, cluster, expected }) {
    const verdict: Verdict = new Verdict(this.id);
    const budgets = (
      await cluster.kube.config.makeApiClient(PolicyV1Api).listNamespacedPodDisruptionBudget({
        namespace: release.namespace,
      })
    ).items;
    const pods = await cluster.kube.pods(release.namespace, release.labelSelector);
    const covering = budgets.filter((b) => {
      const selects = b.spec?.selector?.matchLabels ?? {};
      return pods.every((p) => Object.entries(selects).every(([k, v]) => p.metadata?.labels?.[k] === v));
    });
    verdict.equal(covering.length, 1, "PodDisruptionBudgets selecting every pod of the release");
    const budget = covering[0];
    verdict.equal(
      budget?.spec?.maxUnavailable,
      expected.podDisruptionBudget.maxUnavailable,
      `maxUnavailable of ${budget?.metadata?.name}`,
    );
    verdict.equal(budget?.status?.expectedPods, expected.pods, `pods ${budget?.metadata?.name} counts`);
  },
};
