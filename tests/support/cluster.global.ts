import type { TestProject } from "vitest/node";
import { type ClusterInfo, type StartedCluster, startCluster, useExistingCluster } from "../../src/cluster/index.ts";
import { isCI } from "../../src/settings.ts";

/** Projects that need a running cluster. */
const CLUSTER_PROJECTS = new Set(["cluster", "install", "failover", "bench"]);

declare module "vitest" {
  export interface ProvidedContext {
    /** The shared cluster, or why there is none (suites then skip, or fail under CI=true). */
    cluster: ClusterInfo | { unavailable: string };
  }
}

/**
 * Starts one cluster for every integration suite of the run, and removes it afterwards
 * (also on failure; Ctrl-C is handled by the cluster module's signal handlers).
 */
export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const selected = project.vitest.projects.map((p) => p.name);
  if (!selected.some((name) => CLUSTER_PROJECTS.has(name))) return undefined;

  if (process.env.VALKEY_KUBECONFIG) {
    project.provide("cluster", useExistingCluster(process.env.VALKEY_KUBECONFIG));
    return undefined;
  }
  let cluster: StartedCluster;
  try {
    cluster = await startCluster();
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    if (isCI()) throw error;
    project.provide("cluster", { unavailable: reason });
    return undefined;
  }
  project.provide("cluster", cluster.info);
  return async () => {
    await cluster.stop();
  };
}
