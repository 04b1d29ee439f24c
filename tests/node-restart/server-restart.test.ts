import { describe, expect } from "vitest";
import type { NodeControl } from "../../src/cluster/index.ts";
import { isPodReady, waitFor } from "../../src/kube/index.ts";
import { clusterUnavailable, test } from "../support/fixtures.ts";

/**
 * Restarts the server node's container (control plane, its kubelet, its pods): it runs
 * alone, after every other suite, which would otherwise see their cluster stop.
 */
describe.skipIf(!!clusterUnavailable)("the harness's Kubernetes cluster, restarted", () => {
  test.beforeEach(({ cluster, namespace, onTestFailed }) => {
    onTestFailed(async () => console.error(await cluster.kube.diagnostics(namespace)));
  });

  test("comes back with its objects, and the server node's volume data, after the server's container restarts", async ({
    cluster,
    namespace,
    skip,
  }) => {
    if (!cluster.nodeControl) skip("needs to restart nodes: a cluster the harness did not start is not its to restart");
    const control = cluster.nodeControl as NodeControl;
    const server = control.nodes[0]?.name as string;
    await cluster.kube.core.createNamespacedService({
      namespace,
      body: { metadata: { name: "kept" }, spec: { selector: { app: "reader" }, ports: [{ port: 80 }] } },
    });
    await cluster.kube.core.createNamespacedPersistentVolumeClaim({
      namespace,
      body: {
        metadata: { name: "data" },
        spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "64Mi" } } },
      },
    });
    // A node selector, not nodeName: the scheduler must run for the claim (WaitForFirstConsumer) to bind.
    const reader = cluster.helperPod(
      "reader",
      { app: "reader" },
      {
        nodeSelector: { "kubernetes.io/hostname": server },
        volumes: [{ name: "data", persistentVolumeClaim: { claimName: "data" } }],
      },
    );
    for (const container of reader.spec?.containers ?? [])
      container.volumeMounts = [{ name: "data", mountPath: "/data" }];
    await cluster.startPod(namespace, reader);
    expect((await cluster.sh(namespace, "reader", "echo survived-$((6*7)) > /data/proof && sync")).exitCode).toBe(0);
    const before = await cluster.kube.core.readNamespacedPod({ namespace, name: "reader" });
    expect(before.spec?.nodeName, "the reader and its volume are on the node being restarted").toBe(server);

    const started = performance.now();
    await control.restart();
    const nodeBack = performance.now();
    const proof = await waitFor(
      "the reader pod to run again and read its volume after the restart",
      async () => {
        const pod = await cluster.kube.core.readNamespacedPod({ namespace, name: "reader" });
        if (!isPodReady(pod)) return undefined;
        const read = await cluster.sh(namespace, "reader", "cat /data/proof");
        return read.exitCode === 0 ? read.stdout.trim() : undefined;
      },
      { timeoutMs: 180_000, intervalMs: 500 },
    );
    console.log(
      `[node-restart] server Ready again after ${((nodeBack - started) / 1000).toFixed(1)} s, its pod running with its volume after ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
    expect(proof).toBe("survived-42");
    const services = await cluster.kube.core.listNamespacedService({ namespace });
    expect(services.items.map((s) => s.metadata?.name)).toContain("kept");
  });
});
