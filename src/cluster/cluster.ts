import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  KubeConfig,
  type V1Pod,
  type V1PodSecurityContext,
  type V1PodSpec,
  type V1SecurityContext,
} from "@kubernetes/client-node";
import { isPodReady, Kube, waitFor } from "../kube/index.ts";
import { runOrThrow } from "../process.ts";
import { cacheDir, setting } from "../settings.ts";
import type { Endpoint } from "../valkey/index.ts";
import { dockerExec, loadImagesIntoNodes, publishedPorts } from "./docker.ts";
import type { ClusterInfo, NodeContainerInfo } from "./info.ts";
import { HOST_NODE_PORTS } from "./node-container.ts";
import { POWER_LOSS_CLASS, powerLossDiskMounted } from "./power-loss.ts";

/** Reaching Services from the host: NodePorts that the server's container publishes on 127.0.0.1. */
export interface HostAccess {
  /** A NodePort Service in front of the selected pods, and its address on the host. */
  exposeToHost(namespace: string, name: string, selector: Record<string, string>, port: number): Promise<Endpoint>;
  /** The host address of a NodePort in the published range. */
  hostAddress(nodePort: number): Endpoint;
}

/** Node containers the harness owns: it may restart them, crash them and run commands in them. */
export interface NodeControl {
  /** Every node container, server first. */
  readonly nodes: readonly NodeContainerInfo[];
  node(name: string): NodeContainerInfo;
  /** Restarts a node's container (default: the server) and waits until that node is Ready again. */
  restart(node?: NodeContainerInfo): Promise<void>;
  /** Kills a node's container at once (SIGKILL to everything in it): a node crash. */
  crash(node: NodeContainerInfo): Promise<void>;
  /** Starts a crashed node's container again and waits until the node is Ready. */
  start(node: NodeContainerInfo): Promise<void>;
  /** Runs a command in a node's container (e.g. `ctr` against its containerd). */
  exec(node: NodeContainerInfo, command: readonly string[]): Promise<string>;
}

/** Volumes that lose what was not synced when their node crashes, as a disk does when a machine loses power. */
export interface PowerLossDisks {
  /** The StorageClass whose volumes live on the agents' power-loss disks. */
  readonly className: string;
  /** The agents that carry one. */
  readonly agents: readonly string[];
  /** Whether the node's power-loss disk is mounted now (read from the node's /proc/mounts). */
  mounted(node: NodeContainerInfo): Promise<boolean>;
}

/** Putting local images into the nodes without a registry. */
export interface ImageLoading {
  /** Loads images into every node, or only into the named ones. */
  load(images: readonly string[], nodeNames?: readonly string[]): Promise<void>;
}

/**
 * A test process's connection to the shared cluster: the Kubernetes API, a kubeconfig
 * file for helm, helper pods, and what this kind of cluster can do. A capability the
 * cluster lacks (host access, node control, image loading on a cluster the harness did not
 * start) is undefined, and suites that need it skip with a line saying so.
 */
export class Cluster {
  info: ClusterInfo;
  kube: Kube;
  kubeconfigPath: string;
  readonly hostAccess?: HostAccess;
  readonly nodeControl?: NodeControl;
  readonly imageLoading?: ImageLoading;
  readonly powerLossDisks?: PowerLossDisks;

  private constructor(info: ClusterInfo) {
    this.info = info;
    this.kube = new Kube(kubeConfigOf(info));
    this.kubeconfigPath = writeKubeconfig(info);
    if (info.kind === "container" && info.nodes && info.nodes.length > 0) {
      const nodes = info.nodes;
      this.hostAccess = new PublishedNodePorts(this);
      this.nodeControl = new ContainerNodes(this, nodes);
      if (info.powerLossDisks)
        this.powerLossDisks = {
          className: POWER_LOSS_CLASS,
          agents: info.powerLossDisks.agents,
          mounted: async (node) => powerLossDiskMounted(await dockerExec(node.containerId, ["cat", "/proc/mounts"])),
        };
      // Nodes that pull from a registry get every image there, none imported.
      if (!info.images?.pulledFrom)
        this.imageLoading = {
          load: (images, nodeNames) =>
            loadImagesIntoNodes(
              nodes.filter((n) => !nodeNames || nodeNames.includes(n.name)).map((n) => n.containerId),
              images,
            ),
        };
    }
  }

  /** Connects to a cluster described by `info`, re-reading its published ports first. */
  static async connect(info: ClusterInfo): Promise<Cluster> {
    return new Cluster(await withCurrentPorts(info));
  }

  /** The kubeconfig, its server on 127.0.0.1. */
  getKubeConfig(): string {
    return this.info.kubeconfig;
  }

  /**
   * Re-reads the ports the server's container publishes (they change when it restarts)
   * and rebuilds the API client and the kubeconfig file.
   */
  async reconnect(): Promise<void> {
    this.info = await withCurrentPorts(this.info);
    this.kube = new Kube(kubeConfigOf(this.info));
    this.kubeconfigPath = writeKubeconfig(this.info);
  }

  /** Image for throwaway test pods (a shell, wget, nc, nslookup). */
  get helperImage(): string {
    return setting("VALKEY_HELPER_IMAGE") ?? this.info.images?.helper ?? "busybox:1.36";
  }

  /**
   * A throwaway pod of the helper image that idles until deleted; `spec` overrides parts
   * of it (containers, volumes, nodeName). It meets the Pod Security Standard `restricted`
   * (an unprivileged user, no privilege escalation, no capabilities, the runtime's seccomp
   * profile), so it runs in the namespaces the harness installs releases into.
   */
  helperPod(name: string, labels: Record<string, string> = { app: name }, spec: Partial<V1PodSpec> = {}): V1Pod {
    return {
      metadata: { name, labels },
      spec: {
        terminationGracePeriodSeconds: 1,
        automountServiceAccountToken: false,
        securityContext: restrictedPod(65534),
        containers: [
          {
            name: "main",
            image: this.helperImage,
            imagePullPolicy: "IfNotPresent",
            command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"],
            securityContext: RESTRICTED_CONTAINER,
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
      { timeoutMs, intervalMs: 250 },
    );
  }

  /** Runs a shell script in a pod's container (default: the helper pod's `main`). */
  sh(namespace: string, pod: string, script: string, container = "main") {
    return this.kube.exec(namespace, pod, container, ["sh", "-c", script]);
  }

  /** Node names, from the API (any cluster). */
  async nodeNames(): Promise<string[]> {
    return (await this.kube.core.listNode()).items.map((n) => n.metadata?.name as string).sort();
  }
}

/** A container's part of the Pod Security Standard `restricted` (the pod gives the user and seccomp). */
export const RESTRICTED_CONTAINER: V1SecurityContext = {
  allowPrivilegeEscalation: false,
  capabilities: { drop: ["ALL"] },
};

/** A pod's part of the Pod Security Standard `restricted`, as `user`. */
export const restrictedPod = (user: number): V1PodSecurityContext => ({
  runAsNonRoot: true,
  runAsUser: user,
  runAsGroup: user,
  seccompProfile: { type: "RuntimeDefault" },
});

export function kubeConfigOf(info: ClusterInfo): KubeConfig {
  const config = new KubeConfig();
  config.loadFromString(info.kubeconfig);
  return config;
}

function writeKubeconfig(info: ClusterInfo): string {
  const dir = join(cacheDir(), "kubeconfigs");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${info.nodes?.[0]?.containerId.slice(0, 12) ?? "existing"}-${process.pid}.yaml`);
  writeFileSync(file, info.kubeconfig, { mode: 0o600 });
  return file;
}

/**
 * The one place that reads the server container's published ports (API and NodePorts):
 * they change when the container restarts, and test workers hold a copy made before.
 */
export async function withCurrentPorts(info: ClusterInfo): Promise<ClusterInfo> {
  const server = info.nodes?.[0];
  if (info.kind !== "container" || !server) return info;
  const ports = await publishedPorts(server.containerId, [6443, ...HOST_NODE_PORTS]);
  return {
    ...info,
    kubeconfig: info.kubeconfig.replace(/server: https:\/\/[^:\s]+:\d+/, `server: https://127.0.0.1:${ports[6443]}`),
    hostPorts: Object.fromEntries(HOST_NODE_PORTS.map((port) => [port, ports[port] as number])),
  };
}

class PublishedNodePorts implements HostAccess {
  private readonly cluster: Cluster;
  constructor(cluster: Cluster) {
    this.cluster = cluster;
  }

  async exposeToHost(namespace: string, name: string, selector: Record<string, string>, port: number) {
    const nodePort = await this.cluster.kube.createNodePortService(namespace, name, selector, port, HOST_NODE_PORTS);
    return this.hostAddress(nodePort);
  }

  hostAddress(nodePort: number): Endpoint {
    const port = this.cluster.info.hostPorts[nodePort];
    if (port === undefined) {
      throw new Error(
        `NodePort ${nodePort} is not published to the host (published: ${HOST_NODE_PORTS[0]}-${HOST_NODE_PORTS.at(-1)})`,
      );
    }
    return { host: "127.0.0.1", port };
  }
}

class ContainerNodes implements NodeControl {
  private readonly cluster: Cluster;
  readonly nodes: readonly NodeContainerInfo[];

  constructor(cluster: Cluster, nodes: readonly NodeContainerInfo[]) {
    this.cluster = cluster;
    this.nodes = nodes;
  }

  node(name: string): NodeContainerInfo {
    const found = this.nodes.find((n) => n.name === name);
    if (!found) throw new Error(`no node container named ${name} (nodes: ${this.nodes.map((n) => n.name).join(", ")})`);
    return found;
  }

  async restart(node: NodeContainerInfo = this.nodes[0] as NodeContainerInfo, timeoutMs = 300_000): Promise<void> {
    const restartedAt = Date.now();
    await runOrThrow("docker", ["restart", "--time", "30", node.containerId]);
    await this.cluster.reconnect();
    await this.waitReadyAfter(node, restartedAt, timeoutMs);
  }

  async crash(node: NodeContainerInfo): Promise<void> {
    await runOrThrow("docker", ["kill", "--signal", "KILL", node.containerId]);
  }

  async start(node: NodeContainerInfo, timeoutMs = 300_000): Promise<void> {
    const startedAt = Date.now();
    await runOrThrow("docker", ["start", node.containerId]);
    await this.cluster.reconnect();
    await this.waitReadyAfter(node, startedAt, timeoutMs);
  }

  exec(node: NodeContainerInfo, command: readonly string[]): Promise<string> {
    return dockerExec(node.containerId, command);
  }

  /** Waits for a Ready status the node wrote after `since` (statuses from before still say Ready). */
  private async waitReadyAfter(node: NodeContainerInfo, since: number, timeoutMs: number): Promise<void> {
    const fresh = (time: Date | string | undefined) => time !== undefined && new Date(time).getTime() >= since - 1000;
    await waitFor(
      `node ${node.name} to report Ready after its restart`,
      async () => {
        const current = await this.cluster.kube.core.readNode({ name: node.name });
        return current.status?.conditions?.some(
          (c) => c.type === "Ready" && c.status === "True" && fresh(c.lastHeartbeatTime),
        );
      },
      { timeoutMs, intervalMs: 500 },
    );
    if (node.role !== "server") return;
    await waitFor(
      "CoreDNS to run again after the server's restart",
      async () =>
        (await this.cluster.kube.pods("kube-system", "k8s-app=kube-dns")).some(
          (pod) => isPodReady(pod) && pod.status?.containerStatuses?.every((c) => fresh(c.state?.running?.startedAt)),
        ),
      { timeoutMs, intervalMs: 500 },
    );
  }
}
