import type { V1Pod } from "@kubernetes/client-node";
import { describe, expect } from "vitest";
import { harnessImageValues, installUpstreamChart } from "../../src/chart/upstream.ts";
import { pinnedUpstreamVersion } from "../../src/chart/wrapper.ts";
import type { Cluster } from "../../src/cluster/index.ts";
import { isPodReady, waitFor } from "../../src/kube/index.ts";
import { clusterUnavailable, test } from "../support/fixtures.ts";

const NODES_NEEDED = 3;
const APP = { app: "spread" };

/** A StatefulSet of web servers that answer with their pod name, one per node, each with a volume. */
async function createSpreadStatefulSet(cluster: Cluster, namespace: string): Promise<void> {
  await cluster.kube.core.createNamespacedService({
    namespace,
    body: {
      metadata: { name: "spread" },
      spec: { clusterIP: "None", selector: APP, ports: [{ port: 8080 }] },
    },
  });
  await cluster.kube.core.createNamespacedService({
    namespace,
    body: { metadata: { name: "spread-any" }, spec: { selector: APP, ports: [{ port: 80, targetPort: 8080 }] } },
  });
  const pod = cluster.helperPod("spread", APP, {
    affinity: {
      podAntiAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: [
          { topologyKey: "kubernetes.io/hostname", labelSelector: { matchLabels: APP } },
        ],
      },
    },
  });
  const main = pod.spec?.containers[0];
  if (!main) throw new Error("helper pod without a container");
  main.command = [
    "sh",
    "-c",
    "mkdir -p /tmp/www && hostname > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www",
  ];
  main.ports = [{ containerPort: 8080 }];
  main.readinessProbe = { tcpSocket: { port: 8080 }, periodSeconds: 1 };
  main.volumeMounts = [{ name: "data", mountPath: "/data" }];
  await cluster.kube.apps.createNamespacedStatefulSet({
    namespace,
    body: {
      metadata: { name: "spread" },
      spec: {
        serviceName: "spread",
        replicas: NODES_NEEDED,
        podManagementPolicy: "Parallel",
        selector: { matchLabels: APP },
        template: { metadata: { labels: APP }, spec: pod.spec },
        volumeClaimTemplates: [
          {
            metadata: { name: "data" },
            spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "64Mi" } } },
          },
        ],
      },
    },
  });
  await cluster.kube.waitForReadyPods(namespace, "app=spread", NODES_NEEDED, 180_000);
}

/** GET through busybox wget; the body, or undefined when nothing answered within 3 s. */
async function httpGet(cluster: Cluster, namespace: string, from: string, url: string) {
  // busybox 1.35's `wget -T` segfaults; `timeout` bounds the request instead.
  const result = await cluster.sh(namespace, from, `timeout 3 wget -q -O - ${url}`);
  return result.exitCode === 0 ? result.stdout.trim() : undefined;
}

function nodeOf(pod: V1Pod): string {
  return pod.spec?.nodeName ?? "";
}

describe.skipIf(!!clusterUnavailable)(`a cluster of ${NODES_NEEDED} nodes`, () => {
  test.beforeEach(async ({ cluster, namespace, onTestFailed, skip }) => {
    const nodes = (await cluster.kube.core.listNode()).items.length;
    if (nodes < NODES_NEEDED) {
      skip(
        `needs ${NODES_NEEDED} nodes, the cluster has ${nodes} (VALKEY_CLUSTER_AGENTS sets the agents; the default 3 makes four nodes)`,
      );
    }
    onTestFailed(async () => console.error(await cluster.kube.diagnostics(namespace)));
  });

  test("places a StatefulSet with required pod anti-affinity on three different nodes", async ({
    cluster,
    namespace,
  }) => {
    await createSpreadStatefulSet(cluster, namespace);
    const pods = await cluster.kube.pods(namespace, "app=spread");
    expect(new Set(pods.map(nodeOf)).size).toBe(NODES_NEEDED);
  });

  test("connects pods across nodes by per-pod DNS name and through a Service, from every node", async ({
    cluster,
    namespace,
  }) => {
    const pods = await cluster.kube.pods(namespace, "app=spread");
    for (const from of pods) {
      const source = from.metadata?.name as string;
      for (const to of pods) {
        const target = to.metadata?.name as string;
        const url = `http://${target}.spread.${namespace}.svc.cluster.local:8080/`;
        const body = await waitFor(
          `${source} (${nodeOf(from)}) to reach ${url}`,
          () => httpGet(cluster, namespace, source, url),
          { timeoutMs: 30_000, intervalMs: 1000 },
        );
        expect(body, `${source} on ${nodeOf(from)} -> ${target} on ${nodeOf(to)}`).toBe(target);
      }
      const viaService = await httpGet(cluster, namespace, source, `http://spread-any.${namespace}.svc.cluster.local/`);
      expect(viaService, `${source} on ${nodeOf(from)} -> Service spread-any`).toMatch(/^spread-\d$/);
    }
  });

  test("brings a deleted pod back on its own node with its volume's data", async ({ cluster, namespace }) => {
    const name = "spread-1";
    const before = await cluster.kube.core.readNamespacedPod({ namespace, name });
    expect((await cluster.sh(namespace, name, "echo kept-on-$(hostname) > /data/proof && sync")).exitCode).toBe(0);
    await cluster.kube.core.deleteNamespacedPod({ namespace, name, gracePeriodSeconds: 0 });
    const after = await waitFor(
      `${name} to come back as a new pod`,
      async () => {
        const pod = await cluster.kube.core.readNamespacedPod({ namespace, name }).catch(() => undefined);
        return pod && pod.metadata?.uid !== before.metadata?.uid && isPodReady(pod) ? pod : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 1000 },
    );
    expect(nodeOf(after)).toBe(nodeOf(before));
    expect((await cluster.sh(namespace, name, "cat /data/proof")).stdout.trim()).toBe(`kept-on-${name}`);
  });

  test("enforces a NetworkPolicy between pods on the same node and across nodes", async ({ cluster, namespace }) => {
    const pods = await cluster.kube.pods(namespace, "app=spread");
    const nodes = [...new Set(pods.map(nodeOf))];
    await cluster.kube.networking.createNamespacedNetworkPolicy({
      namespace,
      body: {
        metadata: { name: "spread-friends-only" },
        spec: {
          podSelector: { matchLabels: APP },
          policyTypes: ["Ingress"],
          ingress: [{ _from: [{ podSelector: { matchLabels: { role: "friend" } } }], ports: [{ port: 8080 }] }],
        },
      },
    });
    // A friend and a stranger on every node: each target is then reached from its own node and from others.
    const clients = nodes.flatMap((node, i) =>
      (["friend", "stranger"] as const).map((role) => ({ name: `${role}-${i}`, role, node })),
    );
    await Promise.all(
      clients.map((c) =>
        cluster.startPod(namespace, cluster.helperPod(c.name, { role: c.role }, { nodeName: c.node })),
      ),
    );
    const spread0 = pods.find((p) => p.metadata?.name === "spread-0") as V1Pod;
    const url = (pod: V1Pod) => `http://${pod.status?.podIP}:8080/`;
    await waitFor(
      "the policy to be in force",
      async () => (await httpGet(cluster, namespace, "stranger-0", url(spread0))) === undefined,
      { timeoutMs: 60_000, intervalMs: 1000 },
    );
    const outcomes = await Promise.all(
      clients.flatMap((client) =>
        pods.map(async (target) => ({
          path: `${client.name} (${client.node}) -> ${target.metadata?.name} (${nodeOf(target)})`,
          crossNode: client.node !== nodeOf(target),
          role: client.role,
          body: await httpGet(cluster, namespace, client.name, url(target)),
        })),
      ),
    );
    expect(outcomes.some((o) => o.crossNode) && outcomes.some((o) => !o.crossNode)).toBe(true);
    for (const outcome of outcomes) {
      if (outcome.role === "friend") expect(outcome.body, outcome.path).toMatch(/^spread-\d$/);
      else expect(outcome.body, outcome.path).toBeUndefined();
    }
  });

  test(`spreads the upstream chart ${pinnedUpstreamVersion()} over three nodes with required anti-affinity, and WAIT 2 acknowledges`, async ({
    cluster,
    helm,
    namespace,
    skip,
  }) => {
    const images = cluster.info.images;
    if (!images) skip("needs the offline images (a harness-started cluster)");
    const selector = { "app.kubernetes.io/name": "valkey", "app.kubernetes.io/instance": "valkey" };
    await installUpstreamChart(helm, cluster.kubeconfigPath, {
      namespace,
      version: pinnedUpstreamVersion(),
      values: {
        ...harnessImageValues(images as NonNullable<typeof images>),
        replica: { enabled: true, replicas: 2, minReplicasToWrite: 1, persistence: { size: "256Mi" } },
        affinity: {
          podAntiAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: [
              { topologyKey: "kubernetes.io/hostname", labelSelector: { matchLabels: selector } },
            ],
          },
        },
      },
    });
    const pods = await cluster.kube.pods(namespace, "app.kubernetes.io/name=valkey");
    expect(pods).toHaveLength(3);
    expect(new Set(pods.map(nodeOf)).size).toBe(3);
    const primary = pods.find((p) => p.metadata?.name?.endsWith("-0")) as V1Pod;
    const container = primary.spec?.containers[0]?.name as string;
    // One connection: the write, then WAIT for both replicas to acknowledge it.
    const reply = await waitFor(
      "WAIT 2 to be acknowledged by both replicas",
      async () => {
        const result = await cluster.sh(
          namespace,
          primary.metadata?.name as string,
          "printf 'SET spread:proof ok\\nWAIT 2 5000\\n' | valkey-cli",
          container,
        );
        const lines = result.stdout.trim().split("\n");
        return lines[0] === "OK" && lines[1] === "2" ? lines : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 1000 },
    );
    expect(reply).toEqual(["OK", "2"]);
  });
});
