import type { TestProject } from "vitest/node";
import { reportCleanupFailure } from "../../src/cleanup-log.ts";
import {
  Cluster,
  type ClusterInfo,
  DockerUnavailable,
  type StartedCluster,
  startCluster,
  useExistingCluster,
} from "../../src/cluster/index.ts";
import { ImagesUnavailable } from "../../src/images/index.ts";
import { deleteSharedNamespaces } from "../../src/kube/namespaces.ts";
import { checkSettings, isCI, setting } from "../../src/settings.ts";

declare module "vitest" {
  export interface ProvidedContext {
    /** The shared cluster, or why there is none (suites then skip, or fail under CI=true). */
    cluster: ClusterInfo | { unavailable: string };
    /** Identifies this run: reports that several projects add to are merged by it. */
    runId: string;
  }
}

/** One id for the whole run, shared like the cluster (each project evaluates this module anew). */
const shared = globalThis as typeof globalThis & { valkeyHarnessRunId?: string };
shared.valkeyHarnessRunId ??= new Date().toISOString();
const runId = shared.valkeyHarnessRunId;

/**
 * The cluster every integration project of this run shares. Vitest runs a project's
 * global setup only when the run has test files of that project, so a unit-only run
 * starts nothing; the projects that do run share one cluster through this process-wide
 * slot, and the last teardown stops it.
 *
 * Only a missing Docker engine or images that cannot be built here turn into a skip (on a
 * laptop; under CI=true they fail the run). Invalid settings, failed builds and nodes that
 * never get Ready are errors everywhere.
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
      checkSettings();
      const kubeconfig = setting("VALKEY_KUBECONFIG");
      if (kubeconfig) return useExistingCluster(kubeconfig);
      try {
        shared.cluster = await startCluster();
        return shared.cluster.info;
      } catch (error) {
        const skippable = error instanceof DockerUnavailable || error instanceof ImagesUnavailable;
        if (isCI() || !skippable) throw error;
        return { unavailable: error.message };
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
  project.provide("runId", runId);
  return async () => {
    shared.users--;
    if (shared.users > 0) return;
    slot.valkeyHarnessCluster = undefined;
    const info = await shared.info;
    // A cluster of the user's keeps living: remove the shared namespaces the run created in it.
    if (!shared.cluster && "kubeconfig" in info) {
      const removed = await deleteSharedNamespaces((await Cluster.connect(info)).kube).catch((error: Error) => {
        reportCleanupFailure(`shared namespaces: ${error.message}`);
        return [];
      });
      if (removed.length > 0) console.log(`[cleanup] removed the run's shared namespaces: ${removed.join(", ")}`);
    }
    if (shared.cluster) console.log("[cluster] removing the run's cluster");
    await shared.cluster?.stop();
  };
}
