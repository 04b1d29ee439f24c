import { BatchV1Api, type V1Container, type V1Job, type V1Pod } from "@kubernetes/client-node";
import { type Cluster, RESTRICTED_CONTAINER, restrictedPod } from "../cluster/index.ts";
import { waitFor } from "../kube/index.ts";
import type { Credentials, Endpoint } from "../valkey/index.ts";
import { isClientBound } from "./accounting.ts";
import type { PlacedImage } from "./generator-image.ts";
import {
  combineShares,
  type LoadResult,
  type LoadSettings,
  type LoadShare,
  type ShareResult,
  splitEvenly,
} from "./load.ts";

/** What every generator pod is told (VALKEY_GENERATOR); each takes `shares[JOB_COMPLETION_INDEX]`. */
export interface GeneratorConfig {
  endpoint: Endpoint;
  credentials: Credentials;
  settings: LoadSettings;
  shares: LoadShare[];
  /** The moment every generator sends its first command (epoch ms), once connected. */
  startAt: number;
}

/** One pod's result, the last line it prints. */
export interface GeneratorResult extends ShareResult {
  index: number;
  node: string;
  cpuSeconds: number;
}

/** One generator of an in-cluster load, as the report shows it. */
export interface GeneratorSummary {
  index: number;
  node: string;
  operations: number;
  opsPerSecond: number;
  cpuSeconds: number;
  /** Its one thread was at least 85 % busy: this generator, not the server, set its pace. */
  clientBound: boolean;
}

export interface InClusterLoad {
  result: LoadResult;
  generators: GeneratorSummary[];
  /** Every generator's CPU, summed. */
  cpuSeconds: number;
  /** From the first generator's first command to the last one's last. */
  windowSeconds: number;
}

/**
 * Time the pods get to start and connect before the common start (the image is on every
 * node by then: loaded, or pulled by prePullGenerator); a generator that starts later
 * fails the run.
 */
const START_ALLOWANCE_MS = 10_000;
/** How far a generator's first command may lag the common start before the run is refused as not concurrent. */
const MAX_START_SPREAD_MS = 1_000;
const RESULT_PREFIX = "GENERATOR_RESULT ";
/** The nodes a generator can run on: its image holds a Linux x64 Node. */
const GENERATOR_NODES = { "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64" };
/** A pod waiting for an image it cannot get: the pull failed, no use waiting out the deadline. */
const PULL_FAILURES = ["ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"];

/** Splits a load into `n` shares of connections and operations (the first shares take the remainders). */
export function splitLoad(settings: LoadSettings, n: number): LoadShare[] {
  if (!Number.isInteger(n) || n < 1 || n > settings.connections) {
    throw new Error(`generators=${n} is not valid: give 1 to the load's connections (${settings.connections})`);
  }
  return Array.from({ length: n }, (_, i) => ({
    connections: splitEvenly(settings.connections, n, i),
    maxOperations: splitEvenly(settings.maxOperations, n, i),
    rate: 0,
  }));
}

/** Adds up the generators' results: one histogram of all their samples, throughput over the common window. */
export function combineGenerators(parts: readonly GeneratorResult[]): InClusterLoad {
  const first = Math.min(...parts.map((p) => p.startedAtEpochMs ?? 0));
  const last = Math.max(...parts.map((p) => (p.startedAtEpochMs ?? 0) + p.seconds * 1000));
  const windowSeconds = (last - first) / 1000;
  const result = combineShares(parts, windowSeconds);
  return {
    result,
    windowSeconds,
    cpuSeconds: parts.reduce((sum, p) => sum + p.cpuSeconds, 0),
    generators: [...parts]
      .sort((a, b) => a.index - b.index)
      .map((p) => ({
        index: p.index,
        node: p.node,
        operations: p.operations,
        opsPerSecond: p.seconds > 0 ? Math.round(p.operations / p.seconds) : 0,
        cpuSeconds: Number(p.cpuSeconds.toFixed(2)),
        clientBound: isClientBound(p.cpuSeconds, p.seconds, 1),
      })),
  };
}

/**
 * Runs a closed loop of the lean generator as `n` pods of an Indexed Job spread over the
 * cluster's nodes (at most one more on any node than on another), each with its share of
 * the connections and operations, against the release's primary Service; all connect,
 * then start at one moment. The image is the harness's own (generator-image.ts), loaded
 * into the nodes.
 */
export async function runGeneratorsInCluster(
  cluster: Cluster,
  namespace: string,
  image: PlacedImage,
  service: string,
  credentials: Credentials,
  settings: LoadSettings,
  n: number,
): Promise<InClusterLoad> {
  const shares = splitLoad(settings, n);
  const batch = cluster.kube.config.makeApiClient(BatchV1Api);
  const name = `lean-generators-${n}-${Date.now().toString(36)}`;
  const allowanceMs = START_ALLOWANCE_MS;
  const config: GeneratorConfig = {
    // Without the cluster domain: clusters whose domain is not cluster.local resolve it too.
    endpoint: { host: `${service}.${namespace}.svc`, port: 6379 },
    credentials,
    settings,
    shares,
    startAt: Date.now() + allowanceMs,
  };
  const labels = { "valkey-client": "true", "app.kubernetes.io/name": "valkey-harness-generator", generators: name };
  await batch.createNamespacedJob({
    namespace,
    body: spreadJob(name, n, labels, Math.ceil(allowanceMs / 1000) + settings.maxSeconds + 60, {
      name: "generator",
      image: image.image,
      // Loaded into the harness's nodes (never pulled), or pushed to VALKEY_REGISTRY.
      imagePullPolicy: image.pullPolicy,
      securityContext: RESTRICTED_CONTAINER,
      resources: { requests: { cpu: "100m", memory: "64Mi" }, limits: { memory: "512Mi" } },
      env: [
        { name: "VALKEY_GENERATOR", value: JSON.stringify(config) },
        { name: "NODE_NAME", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } },
      ],
    }),
  });
  let lastPods = "(no pods yet)";
  try {
    await waitFor(
      `Job ${name} (${n} generators) to finish`,
      async () => {
        const job = await batch.readNamespacedJob({ name, namespace });
        const failed = job.status?.conditions?.find((c) => c.type === "Failed" && c.status === "True");
        if (job.status?.failed || failed) {
          lastPods = await podsReport(cluster, namespace, name);
          return `failed${failed ? ` (${failed.reason}: ${failed.message})` : ""}`;
        }
        if ((job.status?.succeeded ?? 0) >= n) return "succeeded";
        // Kept while it runs: a deadline deletes the pods, and with them why they failed.
        lastPods = await podsReport(cluster, namespace, name);
        return undefined;
      },
      { timeoutMs: (allowanceMs / 1000 + settings.maxSeconds + 90) * 1000, intervalMs: 1000 },
    ).then((outcome) => {
      if (outcome !== "succeeded") throw new Error(`Job ${name} ${outcome}; its pods:\n${lastPods}`);
    });
    const pods = await cluster.kube.pods(namespace, `generators=${name}`);
    const parts: GeneratorResult[] = [];
    for (const pod of pods) {
      const log = String(
        await cluster.kube.core.readNamespacedPodLog({
          namespace,
          name: pod.metadata?.name ?? "",
          container: "generator",
        }),
      );
      const line = log.split("\n").findLast((l) => l.startsWith(RESULT_PREFIX));
      if (!line)
        throw new Error(`generator pod ${pod.metadata?.name} printed no result; its log:\n${log.slice(-1500)}`);
      parts.push(JSON.parse(line.slice(RESULT_PREFIX.length)) as GeneratorResult);
    }
    if (parts.length !== n) throw new Error(`Job ${name}: ${parts.length} generator results, expected ${n}`);
    const late = parts.filter((p) => (p.startedAtEpochMs ?? 0) - config.startAt > MAX_START_SPREAD_MS);
    if (late.length > 0) {
      throw new Error(
        `generators ${late.map((p) => `${p.index} (${(((p.startedAtEpochMs ?? 0) - config.startAt) / 1000).toFixed(1)} s late)`).join(", ")} started after the common start: the loads did not overlap; pods took longer than ${allowanceMs / 1000} s to start`,
      );
    }
    return combineGenerators(parts);
  } finally {
    await batch.deleteNamespacedJob({ name, namespace, propagationPolicy: "Background" }).catch(() => undefined);
  }
}

/** The Job's pods: phase, node, and why a container is waiting or ended (for a failed run's message). */
async function podsReport(cluster: Cluster, namespace: string, job: string): Promise<string> {
  const pods: V1Pod[] = await cluster.kube.pods(namespace, `generators=${job}`).catch(() => []);
  const lines = await Promise.all(
    pods.map(async (pod) => {
      const status = pod.status?.containerStatuses?.[0];
      const state = status?.state?.waiting?.reason ?? status?.state?.terminated?.reason ?? pod.status?.phase;
      const log = await cluster.kube.core
        .readNamespacedPodLog({ namespace, name: pod.metadata?.name ?? "", container: "generator", tailLines: 10 })
        .catch(() => "");
      return `${pod.metadata?.name} on ${pod.spec?.nodeName ?? "(unscheduled)"}: ${state}\n${String(log)}`;
    }),
  );
  return lines.join("\n") || "(no pods)";
}

/**
 * Pulls the generator image onto every node pods may run on: an Indexed Job of one pod per
 * such node (spread at most one apart), each starting Node and exiting. On a cluster that
 * pulls from a registry, the first run would otherwise wait for the pull past its start.
 */
export async function prePullGenerator(cluster: Cluster, namespace: string, image: PlacedImage): Promise<void> {
  const nodes = (await cluster.kube.core.listNode()).items.filter(
    (node) =>
      !node.spec?.unschedulable &&
      !(node.spec?.taints ?? []).some((t) => t.effect === "NoSchedule") &&
      Object.entries(GENERATOR_NODES).every(([key, value]) => node.metadata?.labels?.[key] === value),
  );
  const n = Math.max(1, nodes.length);
  const batch = cluster.kube.config.makeApiClient(BatchV1Api);
  const name = `generator-pull-${Date.now().toString(36)}`;
  const labels = { "app.kubernetes.io/name": "valkey-harness-generator", generators: name };
  await batch.createNamespacedJob({
    namespace,
    body: spreadJob(name, n, labels, 600, {
      name: "generator",
      image: image.image,
      imagePullPolicy: image.pullPolicy,
      securityContext: RESTRICTED_CONTAINER,
      command: ["/bin/node", "-e", "0"],
    }),
  });
  let lastPods = "(no pods yet)";
  try {
    const outcome = await waitFor(
      `the generator image pulled onto ${n} node(s)`,
      async () => {
        const job = await batch.readNamespacedJob({ name, namespace });
        if (job.status?.failed || job.status?.conditions?.some((c) => c.type === "Failed" && c.status === "True"))
          return "failed";
        if ((job.status?.succeeded ?? 0) >= n) return "pulled";
        const pods = await cluster.kube.pods(namespace, `generators=${name}`);
        lastPods = await podsReport(cluster, namespace, name);
        const waiting = pods.map((p) => p.status?.containerStatuses?.[0]?.state?.waiting?.reason ?? "");
        return waiting.some((reason) => PULL_FAILURES.includes(reason)) ? "failed" : undefined;
      },
      { timeoutMs: 600_000, intervalMs: 1000 },
    ).catch((error: Error) => {
      throw new Error(`${error.message}; the pods:\n${lastPods}`);
    });
    if (outcome === "failed") throw new Error(`pulling ${image.image} onto the nodes failed; the pods:\n${lastPods}`);
  } finally {
    await batch.deleteNamespacedJob({ name, namespace, propagationPolicy: "Background" }).catch(() => undefined);
  }
}

/**
 * An Indexed Job of `n` pods of one container, spread over the nodes at most one apart
 * (tainted nodes are no domain to spread over), on the nodes the generator image can run
 * on, restricted Pod Security.
 */
function spreadJob(
  name: string,
  n: number,
  labels: Record<string, string>,
  deadlineSeconds: number,
  container: V1Container,
): V1Job {
  return {
    metadata: { name, labels },
    spec: {
      completions: n,
      parallelism: n,
      completionMode: "Indexed",
      backoffLimit: 0,
      activeDeadlineSeconds: deadlineSeconds,
      template: {
        metadata: { labels },
        spec: {
          restartPolicy: "Never",
          automountServiceAccountToken: false,
          securityContext: restrictedPod(1000),
          nodeSelector: GENERATOR_NODES,
          topologySpreadConstraints: [
            {
              maxSkew: 1,
              topologyKey: "kubernetes.io/hostname",
              whenUnsatisfiable: "DoNotSchedule",
              nodeTaintsPolicy: "Honor",
              labelSelector: { matchLabels: { generators: name } },
            },
          ],
          containers: [container],
        },
      },
    },
  };
}
