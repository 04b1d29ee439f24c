import { test as base, inject } from "vitest";
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
  console.warn(`SKIPPED: the integration suites need a Kubernetes cluster: ${clusterUnavailable.split("\n")[0]}`);
}

/**
 * Tests that run against the shared cluster ask for `cluster` by name; `namespace` is a
 * namespace of their own for the test file, deleted (with its volumes) when the file ends.
 * A failing test prints the namespace's diagnostics: pods, events, logs.
 */
export const test = base
  // biome-ignore lint/correctness/noEmptyPattern: vitest reads a fixture's dependencies from this pattern
  .extend("cluster", { scope: "worker" }, async ({}) => ClusterClient.connect(provided as ClusterInfo))
  .extend("namespace", { scope: "file" }, async ({ cluster }, { onCleanup }) => {
    const name = `t-${process.pid}-${Math.random().toString(36).slice(2, 7)}`;
    await cluster.kube.createNamespace(name);
    onCleanup(() => cluster.kube.deleteNamespace(name));
    return name;
  });

test.beforeEach(({ cluster, namespace, onTestFailed }) => {
  onTestFailed(async () => {
    console.error(
      `--- diagnostics for the failed test, namespace ${namespace}\n${await cluster.kube.diagnostics(namespace)}`,
    );
  });
});
