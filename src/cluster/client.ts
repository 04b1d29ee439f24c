import type { V1Pod, V1PodSpec } from "@kubernetes/client-node";
import { isPodReady, Kube, waitFor } from "../kube/index.ts";
import { runOrThrow } from "../process.ts";
import {
  type ClusterInfo,
  HOST_NODE_PORTS,
  hostAddressOf,
  kubeConfigOf,
  kubeconfigFile,
  loadImages,
  type NodeContainerInfo,
  refreshClusterInfo,
} from "./index.ts";

/** A test process's view of the shared cluster: API clients, host access, node operations. */
export class ClusterClient {
  info: ClusterInfo;
  kube: Kube;
  readonly kubeconfigPath: string;

  private constructor(info: ClusterInfo) {
    this.info = info;
    this.kube = new Kube(kubeConfigOf(info));
    this.kubeconfigPath = kubeconfigFile(info);
  }

  static async connect(info: ClusterInfo): Promise<ClusterClient> {
    return new ClusterClient(await refreshClusterInfo(info));
  }

  /** Image for throwaway test pods (a shell, wget, nslookup). */
  get helperImage(): string {
    return this.info.images?.helper ?? process.env.VALKEY_HELPER_IMAGE ?? "busybox:1.36";
  }

  /**
   * Makes pods reachable from the host: a NodePort Service (published out of the node
   * container on 127.0.0.1) in front of the selected pods.
   */
  async exposeToHost(
    namespace: string,
    name: string,
    selector: Record<string, string>,
    port: number,
  ): Promise<{ host: string; port: number }> {
    const nodePort = await this.kube.createNodePortService(namespace, name, selector, port, HOST_NODE_PORTS);
    return hostAddressOf(this.info, nodePort);
  }

  /**
   * A throwaway pod of the helper image (busybox: sh, nc, wget, nslookup) that idles
   * until deleted; `spec` overrides parts of it (containers, volumes, hostname).
   */
  helperPod(name: string, labels: Record<string, string> = { app: name }, spec: Partial<V1PodSpec> = {}): V1Pod {
    return {
      metadata: { name, labels },
      spec: {
        terminationGracePeriodSeconds: 1,
        containers: [
          {
            name: "main",
            image: this.helperImage,
            imagePullPolicy: "IfNotPresent",
            command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"],
          },
        ],
        ...spec,
      },
    };
  }

  /** Creates a pod and waits until it is Ready. */
  async startPod(namespace: string, pod: V1Pod, timeoutMs = 120_000): Promise<void> {
    await this.kube.core.createNamespacedPod({ namespace, body: pod });
    const name = pod.metadata?.name as string;
    await waitFor(
      `pod ${name} to be Ready`,
      async () => isPodReady(await this.kube.core.readNamespacedPod({ namespace, name })),
      { timeoutMs },
    );
  }

  /** Runs a shell script in a pod's container (default: the helper pod's `main`). */
  sh(namespace: string, pod: string, script: string, container = "main") {
    return this.kube.exec(namespace, pod, container, ["sh", "-c", script]);
  }

  loadImages(images: string[]): Promise<void> {
    return loadImages(this.info, images);
  }

  /** The node containers, server first; one entry for a one-node cluster. */
  get nodeContainers(): NodeContainerInfo[] {
    const server = this.requireContainer();
    return this.info.nodes ?? [{ name: "", containerId: server, role: "server" }];
  }

  /**
   * Restarts a node's container (default: the server, which also restarts the control
   * plane) and waits until that node reports Ready again and the API answers.
   */
  async restartNode(node: NodeContainerInfo = this.nodeContainers[0] as NodeContainerInfo, timeoutMs = 300_000) {
    const restartedAt = Date.now();
    await runOrThrow("docker", ["restart", "--time", "30", node.containerId]);
    this.info = await refreshClusterInfo(this.info);
    this.kube = new Kube(kubeConfigOf(this.info));
    // Statuses written before the restart still say Ready: only fresh ones count.
    const fresh = (time: Date | string | undefined) =>
      time !== undefined && new Date(time).getTime() >= restartedAt - 1000;
    await waitFor(
      "the node to report Ready after its restart",
      async () => {
        const nodes = (await this.kube.core.listNode()).items;
        const restarted = node.name ? nodes.filter((n) => n.metadata?.name === node.name) : nodes;
        return (
          restarted.length > 0 &&
          restarted.every((n) =>
            n.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True" && fresh(c.lastHeartbeatTime)),
          )
        );
      },
      { timeoutMs, intervalMs: 1000 },
    );
    if (node.role !== "server") return;
    await waitFor(
      "CoreDNS to run again after the node's restart",
      async () =>
        (await this.kube.pods("kube-system", "k8s-app=kube-dns")).some(
          (pod) => isPodReady(pod) && pod.status?.containerStatuses?.every((c) => fresh(c.state?.running?.startedAt)),
        ),
      { timeoutMs, intervalMs: 1000 },
    );
  }

  private requireContainer(): string {
    if (this.info.kind !== "container" || !this.info.containerId) {
      throw new Error("this operation needs the harness's own cluster container, not an existing cluster");
    }
    return this.info.containerId;
  }
}
