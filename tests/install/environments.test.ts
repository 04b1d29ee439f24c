import { describe, expect } from "vitest";
import { layeredValues } from "../../src/chart/release.ts";
import { selectedEnvironments } from "../../src/chart/wrapper.ts";
import { isPodReady, waitFor } from "../../src/kube/index.ts";
import {
  metricValue,
  parseMetrics,
  rawCommand,
  rawPing,
  readDataset,
  replicationInfo,
  withClient,
  writeDataset,
} from "../../src/valkey/index.ts";
import { clusterUnavailable, test } from "../support/fixtures.ts";
import { useRelease } from "../support/release.ts";

/** How long replicas may take to show a write (they are on the same machine). */
const REPLICATION_BOUND_MS = 5_000;

describe.skipIf(!!clusterUnavailable).each(selectedEnvironments())("environment %s", (env) => {
  const release = useRelease(env);

  test("runs pod 0 as the primary with every replica attached and in sync", async () => {
    const r = release();
    await withClient(await r.endpoint(0), r.clientCredentials, async (primary) => {
      const info = await replicationInfo(primary);
      expect(info.role, "pod 0's role").toBe("master");
      expect(Number(info.connected_slaves), "replicas connected to pod 0").toBe(r.replicas);
    });
    for (let i = 1; i <= r.replicas; i++) {
      await withClient(await r.endpoint(i), r.clientCredentials, async (replica) => {
        const info = await replicationInfo(replica);
        expect(info.role, `pod ${i}'s role`).toBe("slave");
        expect(info.master_link_status, `pod ${i}'s link to the primary`).toBe("up");
        expect(info.master_host).toContain(`${r.podName(0)}.`);
      });
    }
  });

  test("replicates writes made through the primary Service to every replica", async () => {
    const r = release();
    const dataset = await withClient(await r.endpoint("primary"), r.clientCredentials, async (primary) => {
      const written = await writeDataset(primary, `replication:${env}`, 2_000);
      const acknowledged = await primary.wait(r.replicas, 5_000);
      expect(acknowledged, "replicas acknowledging WAIT").toBe(r.replicas);
      return { ...written, offset: Number((await replicationInfo(primary)).master_repl_offset) };
    });
    for (let i = 1; i <= r.replicas; i++) {
      await withClient(await r.endpoint(i), r.clientCredentials, async (replica) => {
        const seen = await waitFor(
          `pod ${i} to hold all ${dataset.count} keys`,
          async () => {
            const read = await readDataset(replica, dataset);
            return read.checksum === dataset.checksum ? read : undefined;
          },
          { timeoutMs: REPLICATION_BOUND_MS, intervalMs: 100 },
        );
        expect(seen.missing).toBe(0);
        const offset = Number((await replicationInfo(replica)).slave_repl_offset);
        expect(offset, `pod ${i}'s replication offset`).toBeGreaterThanOrEqual(dataset.offset);
      });
    }
  });

  test("sets every pod's min-replicas-to-write to the environment's minReplicasToWrite (the failover suite proves NOREPLICAS)", async () => {
    const r = release();
    const expected = String(r.values.valkey.replica.minReplicasToWrite);
    for (let i = 0; i <= r.replicas; i++) {
      await withClient(await r.endpoint(i), r.clientCredentials, async (client) => {
        const [, value] = (await client.config("GET", "min-replicas-to-write")) as [string, string];
        expect(value, `min-replicas-to-write on pod ${i}`).toBe(expected);
      });
    }
  });

  test("creates its StorageClass with the environment's settings and binds every volume on it", async ({ cluster }) => {
    const r = release();
    const sc = await cluster.kube.storage.readStorageClass({ name: r.values.storageClass.name });
    expect(sc.provisioner).toBe(r.values.storageClass.provisioner);
    expect(sc.parameters ?? {}).toEqual(r.values.storageClass.parameters ?? {});
    expect(sc.reclaimPolicy).toBe(r.values.storageClass.reclaimPolicy);
    expect(sc.volumeBindingMode).toBe("WaitForFirstConsumer");
    expect(sc.allowVolumeExpansion).toBe(r.values.storageClass.allowVolumeExpansion);
    const claims = await cluster.kube.core.listNamespacedPersistentVolumeClaim({ namespace: r.namespace });
    expect(claims.items).toHaveLength(r.replicas + 1);
    for (const claim of claims.items) {
      expect(claim.status?.phase, `${claim.metadata?.name}`).toBe("Bound");
      expect(claim.spec?.storageClassName).toBe(r.values.valkey.replica.persistence.storageClass);
      expect(claim.spec?.resources?.requests?.storage).toBe(r.values.valkey.replica.persistence.size);
      expect(claim.spec?.accessModes).toEqual(r.values.valkey.replica.persistence.accessModes);
    }
  });

  test("exports Prometheus metrics from every pod that agree with INFO, to a scraper where Prometheus runs", async ({
    cluster,
  }) => {
    const r = release();
    const service = await cluster.kube.core.readNamespacedService({
      namespace: r.namespace,
      name: `${r.fullname}-metrics`,
    });
    expect(service.metadata?.annotations).toMatchObject({
      "prometheus.io/scrape": "true",
      "prometheus.io/port": "9121",
    });
    // Scrape over the pod network as Prometheus does: from the monitoring namespace the
    // NetworkPolicy admits, when there is one (the API server's pod proxy would be refused
    // by the policy on every node but its own).
    const policy = r.values.networkPolicy;
    const scrapeNamespace: string = policy?.enabled ? (policy.metricsNamespaces?.[0] ?? r.namespace) : r.namespace;
    const createdNamespace = scrapeNamespace !== r.namespace && !(await cluster.kube.namespaceExists(scrapeNamespace));
    if (createdNamespace) await cluster.kube.createNamespace(scrapeNamespace);
    const scraper = `metrics-scraper-${env}`;
    try {
      await cluster.startPod(scrapeNamespace, cluster.helperPod(scraper));
      const pods = await cluster.kube.pods(r.namespace, "app.kubernetes.io/name=valkey");
      for (let i = 0; i <= r.replicas; i++) {
        const podIP = pods.find((p) => p.metadata?.name === r.podName(i))?.status?.podIP;
        const scrape = await cluster.sh(
          scrapeNamespace,
          scraper,
          `timeout 5 wget -q -O - http://${podIP}:9121/metrics`,
        );
        expect(scrape.exitCode, `scrape of pod ${i} from namespace ${scrapeNamespace}: ${scrape.stderr}`).toBe(0);
        const samples = parseMetrics(scrape.stdout);
        expect(metricValue(samples, "redis_up"), `redis_up on pod ${i}`).toBe(1);
        const info = await withClient(await r.endpoint(i), r.clientCredentials, replicationInfo);
        expect(metricValue(samples, "redis_connected_slaves"), `redis_connected_slaves on pod ${i}`).toBe(
          Number(info.connected_slaves),
        );
        expect(metricValue(samples, "redis_instance_info", { role: info.role as string }), `role of pod ${i}`).toBe(1);
      }
    } finally {
      if (createdNamespace) await cluster.kube.deleteNamespace(scrapeNamespace);
      else
        await cluster.kube.core.deleteNamespacedPod({
          namespace: scrapeNamespace,
          name: scraper,
          gracePeriodSeconds: 0,
        });
    }
  });

  test("gives the containers the environment's resources and spreads the pods with anti-affinity", async ({
    cluster,
  }) => {
    const r = release();
    const pods = await cluster.kube.pods(r.namespace, "app.kubernetes.io/name=valkey");
    expect(pods).toHaveLength(r.replicas + 1);
    for (const pod of pods) {
      const valkey = pod.spec?.containers.find((c) => c.name === r.fullname);
      expect(valkey?.resources, `${pod.metadata?.name} valkey resources`).toEqual(r.values.valkey.resources);
      const metrics = pod.spec?.containers.find((c) => c.name === "metrics");
      expect(metrics?.resources).toEqual(r.values.valkey.metrics.exporter.resources);
      const rule = pod.spec?.affinity?.podAntiAffinity;
      const terms = [
        ...(rule?.requiredDuringSchedulingIgnoredDuringExecution ?? []),
        ...(rule?.preferredDuringSchedulingIgnoredDuringExecution ?? []).map((p) => p.podAffinityTerm),
      ];
      expect(terms.map((t) => t.topologyKey)).toContain("kubernetes.io/hostname");
    }
    const nodes = (await cluster.kube.core.listNode()).items.length;
    const used = new Set(pods.map((p) => p.spec?.nodeName));
    // Spread over as many nodes as there are, up to one pod per node.
    expect(used.size, `nodes used by ${pods.length} pods on a ${nodes}-node cluster`).toBe(
      Math.min(nodes, pods.length),
    );
  });

  test.runIf(environmentHas(env, "auth"))(
    "refuses clients without credentials and serves the configured user",
    async () => {
      const r = release();
      const endpoint = await r.endpoint("primary");
      expect(await rawPing(endpoint), "reply to a client without credentials").toMatch(/^-NOAUTH/);
      expect(await rawCommand(endpoint, ["AUTH", "default", "wrong-password"]), "reply to a wrong password").toMatch(
        /^-WRONGPASS/,
      );
      expect(await rawCommand(endpoint, ["AUTH", "default", r.credentials.default ?? ""])).toBe("+OK");
      await expect(withClient(endpoint, r.clientCredentials, (c) => c.ping())).resolves.toBe("PONG");
    },
  );

  test.runIf(environmentHas(env, "networkPolicy"))(
    "lets only the listed clients reach Valkey through its NetworkPolicy",
    async ({ cluster }) => {
      const r = release();
      const allowedLabels = (r.values.networkPolicy.allowedPodLabels?.[0] ?? {}) as Record<string, string>;
      // An allowed and a denied client on every node: Valkey's pods are reached from their
      // own node and across nodes, where the policy is enforced on the receiving node.
      const nodes = (await cluster.kube.core.listNode()).items.map((n) => n.metadata?.name as string);
      const clients = nodes.flatMap((node, i) => [
        { name: `np-denied-${i}`, allowed: false, node, labels: { role: "outsider" } },
        { name: `np-allowed-${i}`, allowed: true, node, labels: allowedLabels },
      ]);
      await Promise.all(
        clients.map((c) => cluster.startPod(r.namespace, cluster.helperPod(c.name, c.labels, { nodeName: c.node }))),
      );
      const valkeyPods = await cluster.kube.pods(r.namespace, "app.kubernetes.io/name=valkey");
      const ping = async (client: string, podIP: string) =>
        (
          await cluster.kube.exec(r.namespace, client, "main", [
            "sh",
            "-c",
            `printf 'PING\\r\\n' | timeout 3 nc ${podIP} 6379`,
          ])
        ).stdout;
      const first = valkeyPods[0]?.status?.podIP as string;
      const started = performance.now();
      // The controller needs a moment to program the policy; wait until it is in force.
      await waitFor("the NetworkPolicy to refuse np-denied-0", async () => (await ping("np-denied-0", first)) === "", {
        timeoutMs: 60_000,
        intervalMs: 1000,
      });
      console.log(`[netpol ${env}] policy in force after ${((performance.now() - started) / 1000).toFixed(1)} s`);
      const outcomes = await Promise.all(
        clients.flatMap((client) =>
          valkeyPods.map(async (pod) => ({
            client,
            path: `${client.name} (${client.node}) -> ${pod.metadata?.name} (${pod.spec?.nodeName})`,
            reply: await ping(client.name, pod.status?.podIP as string),
          })),
        ),
      );
      for (const { client, path, reply } of outcomes) {
        if (client.allowed) expect(reply, path).toMatch(/PONG|NOAUTH/);
        else expect(reply, path).toBe("");
      }
    },
  );

  test("keeps a checksummed dataset when the primary pod is deleted, and replicas re-attach", async ({ cluster }) => {
    const r = release();
    const dataset = await withClient(await r.endpoint("primary"), r.clientCredentials, async (primary) => {
      const written = await writeDataset(primary, `durable:${env}`, 5_000);
      expect(await primary.wait(r.replicas, 5_000)).toBe(r.replicas);
      return written;
    });
    const before = await cluster.kube.core.readNamespacedPod({ namespace: r.namespace, name: r.podName(0) });
    await cluster.kube.core.deleteNamespacedPod({ namespace: r.namespace, name: r.podName(0) });
    await waitFor(
      "pod 0 to come back Ready as a new pod",
      async () => {
        const pod = await cluster.kube.core.readNamespacedPod({ namespace: r.namespace, name: r.podName(0) });
        return pod.metadata?.uid !== before.metadata?.uid && isPodReady(pod);
      },
      { timeoutMs: 180_000, intervalMs: 1000 },
    );
    await withClient(await r.endpoint(0), r.clientCredentials, async (primary) => {
      expect((await readDataset(primary, dataset)).checksum, "dataset on the restarted primary").toBe(dataset.checksum);
      await waitFor(
        "every replica to re-attach to the restarted primary",
        async () => Number((await replicationInfo(primary)).connected_slaves) === r.replicas,
        { timeoutMs: 60_000, intervalMs: 500 },
      );
    });
    for (let i = 1; i <= r.replicas; i++) {
      await withClient(await r.endpoint(i), r.clientCredentials, async (replica) => {
        expect((await readDataset(replica, dataset)).checksum, `dataset on pod ${i}`).toBe(dataset.checksum);
      });
    }
  });

  test("resyncs a deleted replica with the whole dataset", async ({ cluster }) => {
    const r = release();
    const last = r.replicas;
    const dataset = await withClient(await r.endpoint("primary"), r.clientCredentials, async (primary) => {
      await waitFor(
        "every replica to be attached before the test",
        async () => Number((await replicationInfo(primary)).connected_slaves) === r.replicas,
        { timeoutMs: 60_000, intervalMs: 500 },
      );
      return writeDataset(primary, `resync:${env}`, 2_000);
    });
    await cluster.kube.core.deleteNamespacedPod({ namespace: r.namespace, name: r.podName(last) });
    await cluster.kube.waitForReadyPods(r.namespace, "app.kubernetes.io/name=valkey", r.replicas + 1, 180_000);
    await withClient(await r.endpoint(last), r.clientCredentials, async (replica) => {
      await waitFor(`pod ${last} to resync`, async () => (await replicationInfo(replica)).master_link_status === "up", {
        timeoutMs: 60_000,
        intervalMs: 500,
      });
      expect((await readDataset(replica, dataset)).checksum).toBe(dataset.checksum);
    });
  });
});

/** Whether the environment turns a feature on (known before installing). */
function environmentHas(env: string, feature: "auth" | "networkPolicy"): boolean {
  const values = layeredValues(env);
  return feature === "auth" ? !!values.valkey?.auth?.enabled : !!values.networkPolicy?.enabled;
}
