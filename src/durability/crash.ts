import type { Release } from "../chart/release.ts";
import type { Cluster } from "../cluster/index.ts";
import { isPodReady, waitFor } from "../kube/index.ts";

/**
 * SIGKILL to valkey-server in pod `index`, through the containerd of its node: no
 * shutdown, no save, as an OOM kill or a crash. Returns the container's restart count
 * before the kill (kubelet restarts it in place).
 */
export async function killValkeyProcess(cluster: Cluster, release: Release, index: number): Promise<number> {
  const nodes = cluster.nodeControl;
  if (!nodes) throw new Error("killing a process through the node's containerd needs the harness's own cluster");
  const pod = await cluster.kube.core.readNamespacedPod({ namespace: release.namespace, name: release.podName(index) });
  const status = pod.status?.containerStatuses?.find((c) => c.name === release.fullname);
  const id = status?.containerID?.replace(/^containerd:\/\//, "");
  if (!id || !pod.spec?.nodeName) throw new Error(`pod ${index} has no running Valkey container to kill`);
  await nodes.exec(nodes.node(pod.spec.nodeName), ["ctr", "-n", "k8s.io", "task", "kill", "-s", "SIGKILL", id]);
  return status?.restartCount ?? 0;
}

/** Waits until kubelet has restarted the Valkey container of pod `index` and the pod is Ready. */
export async function waitForValkeyRestart(cluster: Cluster, release: Release, index: number, restartsBefore: number) {
  await waitFor(
    `pod ${index}'s Valkey container to restart and the pod to be Ready`,
    async () => {
      const pod = await cluster.kube.core.readNamespacedPod({
        namespace: release.namespace,
        name: release.podName(index),
      });
      const status = pod.status?.containerStatuses?.find((c) => c.name === release.fullname);
      return (status?.restartCount ?? 0) > restartsBefore && isPodReady(pod);
    },
    { timeoutMs: 180_000, intervalMs: 250 },
  );
}
