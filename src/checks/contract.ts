import { relative } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { PolicyV1Api, type V1NetworkPolicy } from "@kubernetes/client-node";
import { asks, inRange, type PromiseName, promiseLabel, type Range, type Terms } from "../contract.ts";
import {
  dryRunRefusal,
  enforcedLevel,
  judgingNamespace,
  notEnforcing,
  type PodSecurityLevel,
} from "../kube/pod-security.ts";
import { rawPing, withClient } from "../valkey/index.ts";
import { type Check, type CheckContext, CheckNotApplicable, releasePods, Verdict } from "./check.ts";

/**
 * The platform's contract judged live: each promise of charts/valkey/contract.yaml read
 * from the running release (servers, pods, volumes, policies), never from the values the
 * revision declares nor from Helm. A pull request that weakens an environment's values
 * passes the declared-value checks (they expect the new values) and fails here.
 */

/** The release's environment's promises in the contract the run judges by. */
export function termsOf(context: Pick<CheckContext, "contract" | "release">): Terms {
  return context.contract.terms[context.release.env] as Terms;
}

interface PromiseAsserter {
  that(condition: unknown, message: string): asserts condition;
}

function verdictFor(check: Check, context: CheckContext, promise: PromiseName): PromiseAsserter {
  const verdict: Verdict = new Verdict(check.id);
  const where = context.contract.line(context.release.env, promise);
  const label = `promise broken: ${promiseLabel(context.release.env, promise)} (${relative(process.cwd(), context.contract.file)}${where ? `:${where}` : ""}, ${asks(termsOf(context), promise)})`;
  return {
    that(condition: unknown, message: string): asserts condition {
      verdict.that(condition, `${label}: ${message}`);
    },
  };
}

const notPromised = (promise: PromiseName) => (_: unknown, terms: Terms) =>
  terms[promise] === undefined ? `the platform's contract makes no ${promise} promise for this environment` : undefined;

async function onEveryPod<T>(context: CheckContext, read: (pod: number) => Promise<T>): Promise<T[]> {
  const pods =
    (
      await context.cluster.kube.apps.readNamespacedStatefulSet({
        name: context.release.fullname,
        namespace: context.release.namespace,
      })
    ).spec?.replicas ?? 0;
  const results: T[] = [];
  for (let i = 0; i < pods; i++) results.push(await read(i));
  return results;
}

async function configOnEveryPod(context: CheckContext, directive: string): Promise<string[]> {
  const { release } = context;
  return onEveryPod(context, async (i) =>
    withClient(await release.endpoint(i), release.clientCredentials, async (c) => {
      const [, value] = (await c.config("GET", directive)) as [string, string];
      return value;
    }),
  );
}

export const contractReplicas: Check = {
  id: "contract.replicas",
  promise:
    "keeps the platform contract's replica floor: the StatefulSet runs that many replicas and pod 0 has them online",
  notApplicable: notPromised("replicas"),
  async run(context) {
    const verdict: PromiseAsserter = verdictFor(this, context, "replicas");
    const range = termsOf(context).replicas as Range;
    const { release, cluster } = context;
    const set = await cluster.kube.apps.readNamespacedStatefulSet({
      name: release.fullname,
      namespace: release.namespace,
    });
    const replicas = (set.spec?.replicas ?? 0) - 1;
    verdict.that(inRange(replicas, range), `the StatefulSet runs ${replicas + 1} pods: ${replicas} replicas`);
    const online = await withClient(
      await release.endpoint(0),
      release.clientCredentials,
      async (c) =>
        (await c.info("replication")).split("\n").filter((line) => /^slave\d+:.*state=online/.test(line)).length,
    );
    verdict.that(inRange(online, range), `pod 0 has ${online} replica(s) online`);
  },
};

export const contractMinReplicasToWrite: Check = {
  id: "contract.min-replicas-to-write",
  promise:
    "keeps the platform contract's write-safety floor: min-replicas-to-write on every pod within the contract's bounds",
  notApplicable: notPromised("minReplicasToWrite"),
  async run(context) {
    const verdict: PromiseAsserter = verdictFor(this, context, "minReplicasToWrite");
    const values = await configOnEveryPod(context, "min-replicas-to-write");
    for (const [i, value] of values.entries())
      verdict.that(
        inRange(Number(value), termsOf(context).minReplicasToWrite as Range),
        `pod ${i} runs min-replicas-to-write ${value}`,
      );
  },
};

export const contractAppendOnly: Check = {
  id: "contract.append-only",
  promise: "keeps the platform contract's append-only file: appendonly yes on every pod",
  notApplicable: notPromised("appendOnly"),
  async run(context) {
    const verdict: PromiseAsserter = verdictFor(this, context, "appendOnly");
    const values = await configOnEveryPod(context, "appendonly");
    for (const [i, value] of values.entries()) verdict.that(value === "yes", `pod ${i} runs appendonly ${value}`);
  },
};

export const contractAuthentication: Check = {
  id: "contract.authentication",
  promise:
    "keeps the platform contract's authentication: every pod refuses a client without credentials, and every listed ACL user exists and is enabled",
  notApplicable: notPromised("authentication"),
  async run(context) {
    const verdict: PromiseAsserter = verdictFor(this, context, "authentication");
    const { release } = context;
    const users = termsOf(context).authentication?.users ?? [];
    await onEveryPod(context, async (i) => {
      const endpoint = await release.endpoint(i);
      const anonymous = await rawPing(endpoint, 3_000, release.clientTls);
      verdict.that(
        /^-NOAUTH/.test(anonymous),
        `pod ${i} answered ${JSON.stringify(anonymous)} to a client without credentials`,
      );
      const credentials = release.credentials.default
        ? { ...release.clientCredentials, username: "default", password: release.credentials.default }
        : release.clientCredentials;
      await withClient(endpoint, credentials, async (c) => {
        const existing = (await c.call("ACL", "USERS")) as string[];
        for (const user of users) {
          verdict.that(existing.includes(user), `pod ${i} has no ACL user ${user} (users: ${existing.join(", ")})`);
          const description = (await c.call("ACL", "GETUSER", user)) as unknown[];
          const flags = description[description.indexOf("flags") + 1] as string[];
          verdict.that(flags.includes("on"), `pod ${i}'s ACL user ${user} is disabled (flags ${flags.join(" ")})`);
        }
      });
    });
  },
};

/** The clients a policy's ingress rules admit to `port`, as the contract words them. */
function admittedClients(policies: V1NetworkPolicy[], port: number, ownPods: Record<string, string>) {
  const namespaces = new Set<string>();
  const labels: Record<string, string>[] = [];
  const open: string[] = [];
  for (const policy of policies) {
    for (const rule of policy.spec?.ingress ?? []) {
      const ports = rule.ports ?? [];
      // A named port or a range may cover Valkey's port: counted as covering it.
      const covers = (p: { port?: number | string; endPort?: number }) =>
        p.port === undefined ||
        typeof p.port === "string" ||
        p.port === port ||
        (p.endPort !== undefined && Number(p.port) <= port && port <= p.endPort);
      if (ports.length > 0 && !ports.some(covers)) continue;
      if (!rule._from || rule._from.length === 0) {
        open.push(`${policy.metadata?.name} admits every source`);
        continue;
      }
      for (const peer of rule._from) {
        if (peer.ipBlock) open.push(`${policy.metadata?.name} admits addresses ${peer.ipBlock.cidr}`);
        const ns = peer.namespaceSelector;
        const pods = peer.podSelector;
        if (ns) {
          const name = ns.matchLabels?.["kubernetes.io/metadata.name"];
          const exact = name && Object.keys(ns.matchLabels ?? {}).length === 1 && !ns.matchExpressions?.length;
          if (!exact) open.push(`${policy.metadata?.name} admits namespaces ${JSON.stringify(ns)}`);
          else if (pods && (Object.keys(pods.matchLabels ?? {}).length > 0 || pods.matchExpressions?.length))
            open.push(`${policy.metadata?.name} admits pods ${JSON.stringify(pods)} of namespace ${name}`);
          else namespaces.add(name);
        } else if (pods) {
          if (pods.matchExpressions?.length || Object.keys(pods.matchLabels ?? {}).length === 0)
            open.push(`${policy.metadata?.name} admits pods ${JSON.stringify(pods)} of its namespace`);
          else if (!isDeepStrictEqual(pods.matchLabels, ownPods))
            labels.push(pods.matchLabels as Record<string, string>);
        }
      }
    }
  }
  return { namespaces: [...namespaces].sort(), labels, open };
}

const labelKeys = (sets: Record<string, string>[]) =>
  sets.map((set) => JSON.stringify(Object.fromEntries(Object.entries(set).sort()))).sort();

export const contractNetworkPolicy: Check = {
  id: "contract.network-policy",
  promise:
    "keeps the platform contract's NetworkPolicy: the policies selecting the release's pods admit to Valkey's port exactly the contract's namespaces and pod labels",
  notApplicable: notPromised("networkPolicy"),
  async run(context) {
    const verdict: PromiseAsserter = verdictFor(this, context, "networkPolicy");
    const { release, cluster } = context;
    const want = termsOf(context).networkPolicy as NonNullable<Terms["networkPolicy"]>;
    const pods = await cluster.kube.pods(release.namespace, release.labelSelector);
    const all = (await cluster.kube.networking.listNamespacedNetworkPolicy({ namespace: release.namespace })).items;
    // Policies add up: one that selects any of the release's pods admits its sources to that pod.
    const selecting = all.filter((policy) =>
      pods.some((pod) =>
        Object.entries(policy.spec?.podSelector?.matchLabels ?? {}).every(([k, v]) => pod.metadata?.labels?.[k] === v),
      ),
    );
    const unguarded = pods
      .filter(
        (pod) =>
          !selecting.some(
            (policy) =>
              (policy.spec?.policyTypes ?? ["Ingress"]).includes("Ingress") &&
              Object.entries(policy.spec?.podSelector?.matchLabels ?? {}).every(
                ([k, v]) => pod.metadata?.labels?.[k] === v,
              ),
          ),
      )
      .map((pod) => pod.metadata?.name as string);
    verdict.that(
      unguarded.length === 0,
      `no NetworkPolicy of type Ingress selects ${unguarded.join(", ")} (policies in ${release.namespace}: ${all.map((p) => p.metadata?.name).join(", ") || "none"})`,
    );
    const admitted = admittedClients(selecting, 6379, release.selector);
    verdict.that(admitted.open.length === 0, admitted.open.join("; "));
    verdict.that(
      isDeepStrictEqual(admitted.namespaces, [...want.allowedNamespaces].sort()),
      `the policies admit namespaces [${admitted.namespaces.join(", ")}]`,
    );
    verdict.that(
      isDeepStrictEqual(labelKeys(admitted.labels), labelKeys(want.allowedPodLabels)),
      `the policies admit pods labelled ${JSON.stringify(admitted.labels)}`,
    );
  },
};

export const contractDisruptionBudget: Check = {
  id: "contract.disruption-budget",
  promise:
    "keeps the platform contract's PodDisruptionBudget: one budget covers every pod, its maxUnavailable within the contract's bounds",
  notApplicable: notPromised("podDisruptionBudget"),
  async run(context) {
    const verdict: PromiseAsserter = verdictFor(this, context, "podDisruptionBudget");
    const { release, cluster } = context;
    const pods = await cluster.kube.pods(release.namespace, release.labelSelector);
    const budgets = (
      await cluster.kube.config
        .makeApiClient(PolicyV1Api)
        .listNamespacedPodDisruptionBudget({ namespace: release.namespace })
    ).items.filter((b) =>
      pods.every((p) =>
        Object.entries(b.spec?.selector?.matchLabels ?? {}).every(([k, v]) => p.metadata?.labels?.[k] === v),
      ),
    );
    verdict.that(budgets.length === 1, `${budgets.length} PodDisruptionBudgets cover every pod of the release`);
    const max = budgets[0]?.spec?.maxUnavailable;
    verdict.that(
      inRange(max, termsOf(context).podDisruptionBudget?.maxUnavailable as Range),
      `${budgets[0]?.metadata?.name} has maxUnavailable ${JSON.stringify(max)}${budgets[0]?.spec?.minAvailable !== undefined ? ` and minAvailable ${JSON.stringify(budgets[0]?.spec?.minAvailable)}` : ""}`,
    );
  },
};

export const contractAntiAffinity: Check = {
  id: "contract.anti-affinity",
  promise:
    "keeps the platform contract's spread: every pod requires a host of its own (required anti-affinity on kubernetes.io/hostname) and no two pods share a node",
  notApplicable: notPromised("antiAffinity"),
  async run(context) {
    const verdict: PromiseAsserter = verdictFor(this, context, "antiAffinity");
    const { release, cluster } = context;
    const relaxed = release.fit.antiAffinityRelaxed;
    if (relaxed)
      throw new CheckNotApplicable(
        `the fit relaxed the required anti-affinity to fit ${relaxed.pods} pods on ${relaxed.nodes} node(s): the promise cannot be judged on this cluster`,
      );
    const pods = await cluster.kube.pods(release.namespace, release.labelSelector);
    for (const pod of pods) {
      const terms = pod.spec?.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? [];
      const perHost = terms.some(
        (t) =>
          t.topologyKey === "kubernetes.io/hostname" &&
          Object.keys(t.labelSelector?.matchLabels ?? {}).length > 0 &&
          Object.entries(t.labelSelector?.matchLabels ?? {}).every(([k, v]) => pod.metadata?.labels?.[k] === v),
      );
      verdict.that(
        perHost,
        `${pod.metadata?.name} has no required anti-affinity per host that selects the release's pods`,
      );
    }
    const nodes = pods.map((p) => p.spec?.nodeName);
    verdict.that(new Set(nodes).size === pods.length, `pods share nodes: ${nodes.join(", ")}`);
  },
};

export const contractReclaimPolicy: Check = {
  id: "contract.reclaim-policy",
  promise: "keeps the platform contract's reclaim policy on every volume bound to the release's claims",
  notApplicable: notPromised("reclaimPolicy"),
  async run(context) {
    const verdict: PromiseAsserter = verdictFor(this, context, "reclaimPolicy");
    const { release, cluster } = context;
    const claims = (
      await cluster.kube.core.listNamespacedPersistentVolumeClaim({ namespace: release.namespace })
    ).items.filter((claim) => claim.metadata?.name?.startsWith(`valkey-data-${release.fullname}-`));
    verdict.that(claims.length > 0, "the release has no volume claims");
    const volumes = (await cluster.kube.core.listPersistentVolume()).items;
    for (const claim of claims) {
      const volume = volumes.find((v) => v.metadata?.name === claim.spec?.volumeName);
      if (!volume) return verdict.that(false, `claim ${claim.metadata?.name} is bound to no volume`);
      verdict.that(
        volume.spec?.persistentVolumeReclaimPolicy === termsOf(context).reclaimPolicy,
        `volume ${volume.metadata?.name} of claim ${claim.metadata?.name} has reclaimPolicy ${volume.spec?.persistentVolumeReclaimPolicy}`,
      );
    }
  },
};

export const contractPodSecurity: Check = {
  id: "contract.pod-security",
  promise:
    "keeps the platform contract's Pod Security level: the API server admits every running pod's spec in a server-side dry run in a namespace shown to enforce that level (it refuses there a pod that only baseline admits)",
  notApplicable: notPromised("podSecurity"),
  async run(context) {
    const verdict: PromiseAsserter = verdictFor(this, context, "podSecurity");
    const { release, cluster, namespaces } = context;
    const level = termsOf(context).podSecurity as PodSecurityLevel;
    const judging = await judgingNamespace(cluster.kube, namespaces, level);
    const unable = await notEnforcing(cluster.kube, judging, level, cluster.helperImage);
    verdict.that(unable === undefined, `cannot judge: ${unable}`);
    const pods = await releasePods(verdict, context);
    for (const pod of pods) {
      const refusal = await dryRunRefusal(cluster.kube, judging, pod);
      verdict.that(refusal === undefined, `pod ${pod.metadata?.name}: ${refusal}`);
    }
    const enforced = await enforcedLevel(cluster.kube, release.namespace);
    context.log(
      `[${release.env}] contract.pod-security: ${pods.length} pod(s) admitted under ${level}; namespace ${release.namespace} enforces ${enforced ?? "no level"}`,
    );
  },
};

export const CONTRACT_CHECKS: readonly Check[] = [
  contractReplicas,
  contractMinReplicasToWrite,
  contractAppendOnly,
  contractAuthentication,
  contractNetworkPolicy,
  contractDisruptionBudget,
  contractAntiAffinity,
  contractReclaimPolicy,
  contractPodSecurity,
];
