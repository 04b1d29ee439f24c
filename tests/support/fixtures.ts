import { test as base, inject } from "vitest";
import { Helm } from "../../src/chart/helm.ts";
import { ClusterClient } from "../../src/cluster/client.ts";
import type { ClusterInfo } from "../../src/cluster/index.ts";

const provided = inject("cluster");

/** Why the integration suites cannot run here, or undefined when they can. */
export const clusterUnavailable: string | undefined =
  provided === undefined
    ? "no cluster was provided (run the suites through vitest with the repository's vitest.config.ts)"
    : "unavailable" in provided
      ? provided.unavailable
      : undefined;

if (clusterUnavailable) {
  console.warn(
    `SKIPPED: the integration suites need a Kubernetes cluster: ${clusterUnavailable.split("\n")[0]} ` +
      "(start a Docker engine and run `npm run images`, or set VALKEY_KUBECONFIG to a cluster of yours)",
  );
}

/**
 * Tests that run against the shared cluster ask for `cluster` and `helm` by name;
 * `namespace` is a namespace of the test file's own, deleted (with its volumes) when the
 * file ends.
 */
export const test = base
  // biome-ignore lint/correctness/noEmptyPattern: vitest reads a fixture's dependencies from this pattern
  .extend("cluster", { scope: "worker" }, async ({}) => ClusterClient.connect(provided as ClusterInfo))
  // biome-ignore lint/correctness/noEmptyPattern: as above
  .extend("helm", { scope: "worker" }, async ({}) => {
    const helm = await Helm.fromSettings();
    console.log(`[helm] ${helm}`);
    return helm;
  })
  .extend("namespace", { scope: "file" }, async ({ cluster }, { onCleanup }) => {
    const name = `t-${process.pid}-${Math.random().toString(36).slice(2, 7)}`;
    await cluster.kube.createNamespace(name);
    onCleanup(() => cluster.kube.deleteNamespace(name));
    return name;
  });
