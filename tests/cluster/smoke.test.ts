import { describe, expect } from "vitest";
import type { HostAccess, NodeControl } from "../../src/cluster/index.ts";
import { isNodeReady, waitFor } from "../../src/kube/index.ts";
import { clusterUnavailable, test } from "../support/fixtures.ts";

describe.skipIf(!!clusterUnavailable)("the harness's Kubernetes cluster", () => {
  test.beforeEach(({ cluster, namespace, onTestFailed }) => {
    onTestFailed(async () => console.error(await cluster.kube.diagnostics(namespace)));
  });

  test("answers the API and reports every node Ready with the expected versions", async ({ cluster }) => {
    const nodes = (await cluster.kube.core.listNode()).items;
    if (cluster.info.nodes)
      expect(nodes.map((n) => n.metadata?.name).sort()).toEqual(cluster.info.nodes.map((n) => n.name).sort());
    expect(nodes.length).toBeGreaterThan(0);
    const versions = cluster.info.images?.versions;
    for (const node of nodes) {
      expect(isNodeReady(node), `${node.metadata?.name} Ready`).toBe(true);
      if (!versions) continue;
      expect(node.status?.nodeInfo?.kubeletVersion).toBe(versions.kubernetes);
      expect(node.status?.nodeInfo?.containerRuntimeVersion).toBe(
        `containerd://${versions.containerd?.replace(/^v/, "")}`,
      );
    }
    const classes = await cluster.kube.storage.listStorageClass();
    const localPath = classes.items.find((c) => c.metadata?.name === "local-path");
    expect(localPath?.provisioner).toBe("rancher.io/local-path");
    expect(localPath?.metadata?.annotations?.["storageclass.kubernetes.io/is-default-class"]).toBe("true");
  });

  test("resolves a headless Service's per-pod DNS name from a pod", async ({ cluster, namespace }) => {
    await cluster.kube.core.createNamespacedService({
      namespace,
      body: {
        metadata: { name: "web" },
        spec: { clusterIP: "None", selector: { app: "web-0" }, ports: [{ port: 8080 }] },
      },
    });
    await cluster.startPod(
      namespace,
      cluster.helperPod(
        "web-0",
        { app: "web-0" },
        {
          hostname: "web-0",
          subdomain: "web",
          containers: [
            {
              name: "main",
              image: cluster.helperImage,
              imagePullPolicy: "IfNotPresent",
              command: [
                "sh",
                "-c",
                "mkdir -p /tmp/www && echo hello-from-web-0 > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www",
              ],
              ports: [{ containerPort: 8080 }],
              readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 },
            },
          ],
        },
      ),
    );
    await cluster.startPod(namespace, cluster.helperPod("client"));
    const fqdn = `web-0.web.${namespace}.svc.cluster.local`;
    const lookup = await waitFor(
      `${fqdn} to resolve`,
      async () => {
        const result = await cluster.sh(namespace, "client", `nslookup ${fqdn}`);
        return result.exitCode === 0 ? result.stdout : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 1000 },
    );
    const webPod = await cluster.kube.core.readNamespacedPod({ namespace, name: "web-0" });
    expect(lookup).toContain(webPod.status?.podIP);
  });

  test("routes a pod's request to another pod through a ClusterIP Service", async ({ cluster, namespace }) => {
    await cluster.kube.core.createNamespacedService({
      namespace,
      body: {
        metadata: { name: "web-clusterip" },
        spec: { selector: { app: "web-0" }, ports: [{ port: 80, targetPort: 8080 }] },
      },
    });
    // busybox 1.35's `wget -T` segfaults; `timeout` bounds the request instead.
    const page = await waitFor(
      "the ClusterIP Service to answer",
      async () => {
        const result = await cluster.sh(
          namespace,
          "client",
          `timeout 5 wget -q -O - http://web-clusterip.${namespace}.svc.cluster.local/`,
        );
        return result.exitCode === 0 ? result.stdout : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 1000 },
    );
    expect(page.trim()).toBe("hello-from-web-0");
  });

  test("lets the host reach a Service port through 127.0.0.1", async ({ cluster, namespace, skip }) => {
    if (!cluster.hostAccess) skip("a cluster the harness did not start publishes no NodePorts to this host");
    const address = await (cluster.hostAccess as HostAccess).exposeToHost(
      namespace,
      "web-host",
      { app: "web-0" },
      8080,
    );
    expect(address.host).toBe("127.0.0.1");
    const body = await waitFor(
      `http://${address.host}:${address.port}/ to answer`,
      async () => {
        const response = await fetch(`http://${address.host}:${address.port}/`, { signal: AbortSignal.timeout(3000) });
        return response.ok ? response.text() : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 1000 },
    );
    expect(body.trim()).toBe("hello-from-web-0");
  });

  test("binds a local-path volume whose data survives the pod's replacement", async ({ cluster, namespace }) => {
    await cluster.kube.core.createNamespacedPersistentVolumeClaim({
      namespace,
      body: {
        metadata: { name: "data" },
        spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "64Mi" } } },
      },
    });
    const writer = cluster.helperPod(
      "writer",
      { app: "writer" },
      { volumes: [{ name: "data", persistentVolumeClaim: { claimName: "data" } }] },
    );
    for (const container of writer.spec?.containers ?? [])
      container.volumeMounts = [{ name: "data", mountPath: "/data" }];
    await cluster.startPod(namespace, writer);
    const claim = await cluster.kube.core.readNamespacedPersistentVolumeClaim({ namespace, name: "data" });
    expect(claim.status?.phase).toBe("Bound");
    expect(claim.spec?.storageClassName).toBe("local-path");
    expect((await cluster.sh(namespace, "writer", "echo survived-$((6*7)) > /data/proof && sync")).exitCode).toBe(0);

    await cluster.kube.core.deleteNamespacedPod({ namespace, name: "writer", gracePeriodSeconds: 0 });
    await waitFor(
      "the writer pod to be gone",
      async () => !(await cluster.kube.pods(namespace)).some((p) => p.metadata?.name === "writer"),
      { timeoutMs: 60_000 },
    );
    await cluster.startPod(namespace, { ...writer, metadata: { name: "reader", labels: { app: "reader" } } });
    expect((await cluster.sh(namespace, "reader", "cat /data/proof")).stdout.trim()).toBe("survived-42");
  });
  test("pulls every image from VALKEY_REGISTRY when told to, and imports none", async ({ cluster, skip }) => {
    const registry = cluster.info.images?.pulledFrom;
    if (!registry) skip("the images are imported into the nodes (VALKEY_REGISTRY unset)");
    if (!cluster.nodeControl) skip("a cluster the harness did not start: its nodes cannot be inspected");
    const control = cluster.nodeControl as NodeControl;
    const system = cluster.info.images?.system ?? [];
    expect(system.length, "the system images the registry serves").toBeGreaterThan(0);
    for (const node of control.nodes) {
      const held = (await control.exec(node, ["ctr", "-n", "k8s.io", "images", "ls", "-q"]))
        .split("\n")
        .filter((ref) => ref && !ref.startsWith("sha256:"));
      // The node image carries its images as localhost/...: any such name was imported, not pulled.
      expect(
        held.filter((ref) => ref.startsWith("localhost/")),
        `${node.name}: images imported`,
      ).toEqual([]);
      expect(held, `${node.name}: pause from the registry`).toContain(system[0]);
      if (node.role === "server")
        expect(held, `${node.name}: CoreDNS, local-path`).toEqual(expect.arrayContaining(system));
      expect(
        held.every((ref) => ref.startsWith(`${registry}/`)),
        `${node.name}: ${held.join(", ")}`,
      ).toBe(true);
    }
  });
});
