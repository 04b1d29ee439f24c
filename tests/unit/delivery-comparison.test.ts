import { describe, expect, test } from "vitest";
import { differences, normalised } from "../../src/upgrade/delivery-comparison.ts";

const names: [string, string][] = [
  ["valkey-dev-01-upgrade-helm-abcde", "<storage-class>"],
  ["dev-01-upgrade-helm-abcde", "<namespace>"],
];

const service = (namespace: string, clusterIP: string, extra: Record<string, unknown> = {}) => ({
  apiVersion: "v1",
  kind: "Service",
  metadata: {
    name: "valkey-replication",
    namespace,
    uid: `${namespace}-uid`,
    resourceVersion: "42",
    creationTimestamp: "2026-12-05T10:00:00Z",
    managedFields: [{ manager: "helm" }],
    labels: { "app.kubernetes.io/instance": "valkey" },
    annotations: { "meta.helm.sh/release-name": "valkey", "meta.helm.sh/release-namespace": namespace },
  },
  spec: { clusterIP, clusterIPs: [clusterIP], publishNotReadyAddresses: true, ...extra },
  status: { loadBalancer: {} },
});

describe("comparing a release delivered by helm with one delivered the GitOps way", () => {
  test("sets aside what two releases necessarily differ in: namespace, storage class name, identities, cluster IPs, status, Helm's annotations", () => {
    const helm = normalised(service("dev-01-upgrade-helm-abcde", "10.43.0.10"), names);
    const gitops = normalised(service("dev-01-upgrade-gitops-fghij", "10.43.0.99"), [
      ["valkey-dev-01-upgrade-gitops-fghij", "<storage-class>"],
      ["dev-01-upgrade-gitops-fghij", "<namespace>"],
    ]);
    expect(differences(helm, gitops)).toEqual([]);
    expect(helm).toEqual({
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "valkey-replication", labels: { "app.kubernetes.io/instance": "valkey" } },
      spec: { publishNotReadyAddresses: true },
    });
  });

  test("names each path where the live objects differ", () => {
    const helm = normalised(service("ns-a", "10.43.0.10"), [["ns-a", "<namespace>"]]);
    const gitops = normalised(
      service("ns-b", "10.43.0.11", { publishNotReadyAddresses: false, sessionAffinity: "ClientIP" }),
      [["ns-b", "<namespace>"]],
    );
    expect(differences(helm, gitops)).toEqual([
      ".spec.publishNotReadyAddresses: true vs false",
      '.spec.sessionAffinity: undefined vs "ClientIP"',
    ]);
  });

  test("keeps a namespace written into a spec comparable: the release's own names become placeholders", () => {
    const withHost = (namespace: string) => ({
      kind: "ConfigMap",
      metadata: { name: "valkey-init-scripts", namespace },
      data: { "init.sh": `MASTER_HOST=valkey-0.valkey-headless.${namespace}.svc.cluster.local` },
    });
    expect(
      differences(
        normalised(withHost("ns-a"), [["ns-a", "<namespace>"]]),
        normalised(withHost("ns-b"), [["ns-b", "<namespace>"]]),
      ),
    ).toEqual([]);
  });

  test("leaves out the pod template's checksums of rendered files (they hash the namespace), keeping everything else", () => {
    const statefulSet = (checksum: string, image: string) => ({
      kind: "StatefulSet",
      metadata: { name: "valkey" },
      spec: {
        template: {
          metadata: { annotations: { "checksum/initconfig": checksum }, labels: { app: "valkey" } },
          spec: { containers: [{ name: "valkey", image }] },
        },
      },
    });
    const a = normalised(statefulSet("aaa", "valkey:9.0.1"), []);
    expect(differences(a, normalised(statefulSet("bbb", "valkey:9.0.1"), []))).toEqual([]);
    expect(differences(a, normalised(statefulSet("bbb", "valkey:9.0.2"), []))).toEqual([
      '.spec.template.spec.containers.0.image: "valkey:9.0.1" vs "valkey:9.0.2"',
    ]);
  });
});
