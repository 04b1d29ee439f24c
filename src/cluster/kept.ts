import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Kube, waitFor } from "../kube/index.ts";
import { run } from "../process.ts";
import { cacheDir } from "../settings.ts";
import {
  detachEveryContainer,
  disownContainer,
  disownNetwork,
  HARNESS_LABEL,
  KEPT_OWNER,
  keepAfterExit,
  OWNER_PID_LABEL,
  removeContainers,
} from "./cleanup.ts";
import { kubeConfigOf } from "./cluster.ts";
import { loadImagesIntoNodes } from "./docker.ts";
import { serveDrivers } from "./drivers.ts";
import { startCluster } from "./index.ts";

export interface KeptClusterOptions {
  agents?: number;
  /** Cloud disk drivers the cluster serves under their real names. */
  drivers?: string[];
  /** Where to write the kubeconfig (default: the cache's clusters/kept.kubeconfig). */
  kubeconfigPath?: string;
  log?: (line: string) => void;
}

/**
 * A cluster that outlives the command that started it, for suites run against it as a
 * cluster of the user's (VALKEY_KUBECONFIG), the way a team points the harness at EKS or
 * GKE. Its containers are labelled as kept: never reaped as a crash's leftovers, removed
 * by `removeKeptClusters`. The workload images (Prometheus too) are put on every node,
 * where the harness finds them in the nodes' status. Returns the kubeconfig's path.
 */
export async function startKeptCluster(options: KeptClusterOptions = {}): Promise<string> {
  const log = options.log ?? console.error;
  keepAfterExit();
  const cluster = await startCluster({ agents: options.agents, log });
  const ids = (cluster.info.nodes ?? []).map((node) => node.containerId);
  for (const id of ids) disownContainer(id);
  if (cluster.info.network) disownNetwork(cluster.info.network);
  try {
    const images = cluster.info.images;
    // Nodes that pull from a registry fetch Prometheus like the rest, when a pod needs it.
    if (images && !images.pulledFrom) {
      const started = performance.now();
      await loadImagesIntoNodes(ids, [images.prometheus]);
      // Suites find the images in the nodes' status, which kubelet refreshes on its own schedule.
      const kube = new Kube(kubeConfigOf(cluster.info));
      const wanted = [images.valkey, images.exporter, images.helper, images.prometheus];
      await waitFor(
        "every node's status to list the harness's images",
        async () =>
          (await kube.core.listNode()).items.every((node) =>
            wanted.every((image) => node.status?.images?.some((held) => held.names?.includes(image))),
          ),
        { timeoutMs: 180_000, intervalMs: 2000 },
      );
      log(
        `[cluster] the harness's images on every node (in its status) after ${((performance.now() - started) / 1000).toFixed(1)} s`,
      );
    }
    if (options.drivers?.length) await serveDrivers(new Kube(kubeConfigOf(cluster.info)), options.drivers, log);
    const path = options.kubeconfigPath ?? join(cacheDir(), "clusters", "kept.kubeconfig");
    mkdirSync(join(path, ".."), { recursive: true });
    writeFileSync(path, cluster.info.kubeconfig, { mode: 0o600 });
    return path;
  } catch (error) {
    await removeKeptClusters(log);
    throw error;
  }
}

/** Removes every kept cluster (containers with their volumes, networks) and says what it removed. */
export async function removeKeptClusters(log: (line: string) => void = console.error): Promise<number> {
  const filter = ["--filter", `label=${HARNESS_LABEL}=true`, "--filter", `label=${OWNER_PID_LABEL}=${KEPT_OWNER}`];
  const containers = (await run("docker", ["ps", "-aq", ...filter])).stdout.trim().split("\n").filter(Boolean);
  if (containers.length > 0) {
    const removed = removeContainers(containers);
    if (removed.status !== 0) throw new Error(`docker rm of the kept cluster failed: ${removed.stderr?.trim()}`);
    log(`[cluster] removed ${containers.length} kept node container(s) with their volumes`);
  }
  const networks = (await run("docker", ["network", "ls", "-q", ...filter])).stdout.trim().split("\n").filter(Boolean);
  if (networks.length > 0) {
    for (const network of networks) detachEveryContainer(network);
    const removed = await run("docker", ["network", "rm", ...networks]);
    if (removed.code !== 0) throw new Error(`docker network rm of the kept cluster failed: ${removed.stderr.trim()}`);
    log(`[cluster] removed ${networks.length} kept network(s)`);
  }
  if (containers.length === 0 && networks.length === 0) log("[cluster] no kept cluster to remove");
  return containers.length;
}
