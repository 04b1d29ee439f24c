import type { TestProject } from "vitest/node";
import { type ClusterInfo, type StartedCluster, startCluster, useExistingCluster } from "../../src/cluster/index.ts";
import { isCI } from "../../src/settings.ts";

declare module "vitest" {
  export interface ProvidedContext {
    /** The shared cluster, or why there is none (suites then skip, or fail under CI=true). */
    cluster: ClusterInfo | { unavailable: string };
  }
}

/**
 * The cluster every integration project of this run shares. Vitest runs a project's
 * global setup only when the run has test files of that project, so a unit-only run
 * starts nothing; the projects that do run share one cluster through this process-wide
 * slot, and the last teardown stops it.
 */
interface SharedCluster {
  info: Promise<ClusterInfo | { unavailable: string }>;
  cluster?: StartedCluster;
  users: number;
}
const slot = globalThis as typeof globalThis & { valkeyHarnessCluster?: SharedCluster };

async function acquire(): Promise<SharedCluster> {
  if (!slot.valkeyHarnessCluster) {
    const shared: SharedCluster = { users: 0, info: Promise.resolve({ unavailable: "" }) };
    shared.info = (async () => {
      if (process.env.VALKEY_KUBECONFIG) return useExistingCluster(process.env.VALKEY_KUBECONFIG);
      try {
        shared.cluster = await startCluster();
        return shared.cluster.info;
      } catch (error) {
        if (isCI()) throw error;
        return { unavailable: error instanceof Error ? error.message : String(error) };
      }
    })();
    slot.valkeyHarnessCluster = shared;
  }
  const shared = slot.valkeyHarnessCluster;
  shared.users++;
  return shared;
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const shared = await acquire();
  project.provide("cluster", await shared.info);
  return async () => {
    shared.users--;
    if (shared.users === 0) {
      slot.valkeyHarnessCluster = undefined;
      await shared.cluster?.stop();
    }
  };
}
