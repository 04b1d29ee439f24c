import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import type { StartedK3sContainer } from "@testcontainers/k3s";
import type { StartedTestContainer } from "testcontainers";
import { builtImages, ensureImages, type ImageSet } from "../images/index.ts";
import { isNodeReady, Kube, waitFor } from "../kube/index.ts";
import { run, runOrThrow } from "../process.ts";
import { cacheDir, choiceSetting, integerSetting } from "../settings.ts";
import { createOwnedNetwork, disownContainer, ownContainer, reapLeftovers, removeOwnedNetwork } from "./cleanup.ts";
import { HOST_NODE_PORTS, KubeAgentContainer, KubeNodeContainer, type SecurityProfile } from "./node-container.ts";

export { HOST_NODE_PORTS, KubeAgentContainer, KubeNodeContainer, type SecurityProfile } from "./node-container.ts";

/**
 * What a test process needs to use a cluster someone else started: serialisable, so the
 * global setup can hand it to the test workers.
 */
export interface ClusterInfo {
  kind: "container" | "existing";
  kubeconfig: string;
  /** The server node's container id (container clusters only). */
  containerId?: string;
  /** Every node container, server first (container clusters only). */
  nodes?: NodeContainerInfo[];
  /** The Docker network the nodes share (container clusters only). */
  network?: string;
  /** Image the node runs (container clusters only). */
  nodeImage?: string;
  securityProfile?: SecurityProfile;
  /** NodePort -> host port on 127.0.0.1 (container clusters only). */
  hostPorts: Record<number, number>;
  /** The workload images loaded into the cluster, when the harness built them. */
  images?: ImageSet;
  startSeconds?: number;
}

export interface NodeContainerInfo {
  name: string;
  containerId: string;
  role: "server" | "agent";
}

export interface StartClusterOptions {
  /** Node image; default: VALKEY_CLUSTER_IMAGE, else the offline kube-node image (built if needed). */
  image?: string;
  /** Nodes that join the server; default VALKEY_CLUSTER_AGENTS, else 3: four nodes, one per pod of prod-01 (a primary and three replicas with required anti-affinity). */
  agents?: number;
  /** Default: VALKEY_CLUSTER_PROFILE (privileged, sandbox or auto); auto probes once and remembers. */
  securityProfile?: SecurityProfile | "auto";
  log?: (line: string) => void;
}

const PROFILE_CHOICES = ["auto", "privileged", "sandbox"] as const;

/**
 * Whether this Docker host runs privileged containers. Probed once per host and
 * remembered in the cache: here privileged mode fails with "unable to apply caps".
 */
export async function detectSecurityProfile(probeImage: string): Promise<SecurityProfile> {
  const remembered = join(cacheDir(), "docker-security-profile");
  if (existsSync(remembered)) return readFileSync(remembered, "utf8").trim() as SecurityProfile;
  const probe = await run("docker", ["run", "--rm", "--privileged", "--entrypoint", "/bin/true", probeImage]);
  const profile: SecurityProfile = probe.code === 0 ? "privileged" : "sandbox";
  mkdirSync(cacheDir(), { recursive: true });
  writeFileSync(remembered, `${profile}\n`);
  return profile;
}

/** A running cluster in containers (a server and its agents), started by this process. */
export class StartedCluster {
  private container: StartedK3sContainer;
  private agents: StartedTestContainer[];
  readonly info: ClusterInfo;

  constructor(container: StartedK3sContainer, agents: StartedTestContainer[], info: ClusterInfo) {
    this.container = container;
    this.agents = agents;
    this.info = info;
  }

  get id(): string {
    return this.container.getId();
  }

  /** Restarts the node container; the cluster resumes from its volumes. */
  async restart(): Promise<void> {
    await this.container.restart();
    Object.assign(this.info, {
      kubeconfig: loopbackKubeconfig(this.container),
      hostPorts: hostPortMap(this.container),
    });
  }

  async stop(): Promise<void> {
    await Promise.all(
      [...this.agents, this.container].map(async (container) => {
        await container.stop({ removeVolumes: true });
        disownContainer(container.getId());
      }),
    );
    if (this.info.network) {
      await removeOwnedNetwork(this.info.network);
    }
  }
}

function loopbackKubeconfig(container: StartedK3sContainer): string {
  return container.getKubeConfig().replace(/server: https:\/\/[^:\s]+:/, "server: https://127.0.0.1:");
}

function hostPortMap(container: StartedK3sContainer): Record<number, number> {
  return Object.fromEntries(HOST_NODE_PORTS.map((port) => [port, container.getMappedPort(port)]));
}

async function requireDocker(): Promise<void> {
  const info = await run("docker", ["info", "--format", "{{.ServerVersion}}"]).catch(() => undefined);
  if (info?.code !== 0) {
    throw new Error(
      "No Docker engine answers (docker info failed). Start one (`bash .ci/run` installs and starts dockerd here; on a laptop start Docker Desktop or dockerd), or point VALKEY_KUBECONFIG at an existing cluster.",
    );
  }
}

/** A bootstrap token in kubeadm's form, which k3s accepts as its token too. */
function newJoinToken(): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  const pick = (n: number) => Array.from(randomBytes(n), (b) => alphabet[b % alphabet.length]).join("");
  return `${pick(6)}.${pick(16)}`;
}

const SERVER_NODE = "valkey-harness-server";

/**
 * Starts a Kubernetes cluster in containers through K3sContainer: a server and `agents`
 * nodes that join it, on a Docker network of their own. The offline kube-node image by
 * default, rancher/k3s or any compatible image by a setting.
 */
export async function startCluster(options: StartClusterOptions = {}): Promise<StartedCluster> {
  const log = options.log ?? console.log;
  const agentCount = options.agents ?? integerSetting("VALKEY_CLUSTER_AGENTS", 0, 8, 3);
  await requireDocker();
  process.env.TESTCONTAINERS_RYUK_DISABLED ??= "true"; // no registry for Ryuk's image; we clean up ourselves
  await reapLeftovers(log);

  const requestedImage = options.image ?? process.env.VALKEY_CLUSTER_IMAGE;
  const images = requestedImage ? await builtImages() : await ensureImages(log);
  const image = requestedImage ?? (images as ImageSet).node;
  const requested = options.securityProfile ?? choiceSetting("VALKEY_CLUSTER_PROFILE", PROFILE_CHOICES, "auto");
  const profile = requested === "auto" ? await detectSecurityProfile(images?.helper ?? image) : requested;

  log(`[cluster] starting ${image} (${profile}): a server and ${agentCount} agent(s)`);
  const started = performance.now();
  const network = await createOwnedNetwork(`valkey-harness-${process.pid}-${randomBytes(3).toString("hex")}`);
  const token = newJoinToken();
  // Agents find the server by its container name (Docker's DNS on the network). Not a
  // network alias: with one, testcontainers also attaches the container to the default
  // bridge, and the node would advertise that address.
  const serverName = `${network}-server`;
  const agentNames = Array.from({ length: agentCount }, (_, i) => `valkey-harness-agent-${i + 1}`);
  // Agents start with the server: their join retries until the server answers.
  const serverStart = new KubeNodeContainer(image)
    .withSecurityProfile(profile)
    .withNetworkMode(network)
    .withName(serverName)
    .withCommand([
      "server",
      "--disable=traefik",
      "--disable=metrics-server",
      `--node-name=${SERVER_NODE}`,
      `--tls-san=${serverName}`,
      `--token=${token}`,
    ])
    .start();
  const agentStarts = agentNames.map((name) =>
    new KubeAgentContainer(image, `https://${serverName}:6443`, token, name)
      .withSecurityProfile(profile)
      .withNetworkMode(network)
      .start(),
  );
  const results = await Promise.allSettled([serverStart, ...agentStarts]);
  for (const result of results) if (result.status === "fulfilled") ownContainer(result.value.getId());
  const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) {
    await Promise.all(
      results.map((r) => (r.status === "fulfilled" ? r.value.stop({ removeVolumes: true }) : undefined)),
    );
    await removeOwnedNetwork(network);
    throw failed.reason;
  }
  const [container, ...agents] = results.map((r) => (r as PromiseFulfilledResult<StartedTestContainer>).value) as [
    StartedK3sContainer,
    ...StartedTestContainer[],
  ];
  const info: ClusterInfo = {
    kind: "container",
    kubeconfig: loopbackKubeconfig(container),
    containerId: container.getId(),
    nodes: [
      { name: SERVER_NODE, containerId: container.getId(), role: "server" },
      ...agents.map((agent, i) => ({
        name: agentNames[i] as string,
        containerId: agent.getId(),
        role: "agent" as const,
      })),
    ],
    network,
    nodeImage: image,
    securityProfile: profile,
    hostPorts: hostPortMap(container),
    images,
  };
  const cluster = new StartedCluster(container, agents, info);
  try {
    await waitForNodes(info, 1 + agentCount);
    info.startSeconds = (performance.now() - started) / 1000;
    log(
      `[cluster] ${1 + agentCount} node(s) Ready in ${info.startSeconds.toFixed(1)} s (server ${cluster.id.slice(0, 12)})`,
    );
    if (images) await loadImages(info, [images.valkey, images.exporter, images.helper]);
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  return cluster;
}

/** Waits until the cluster lists `count` nodes, all Ready. */
export async function waitForNodes(info: ClusterInfo, count: number, timeoutMs = 180_000): Promise<void> {
  const kube = new Kube(kubeConfigOf(info));
  await waitFor(
    `${count} node(s) to be Ready`,
    async () => {
      const nodes = (await kube.core.listNode()).items;
      return nodes.length >= count && nodes.every(isNodeReady);
    },
    { timeoutMs, intervalMs: 500 },
  );
}

/** Uses a cluster the user already has (kind, EKS, GKE, ...) through its kubeconfig. */
export function useExistingCluster(kubeconfigPath: string): ClusterInfo {
  if (!existsSync(kubeconfigPath)) {
    throw new Error(`VALKEY_KUBECONFIG=${kubeconfigPath} does not exist: point it at a readable kubeconfig file`);
  }
  return { kind: "existing", kubeconfig: readFileSync(kubeconfigPath, "utf8"), hostPorts: {} };
}

/**
 * Imports local Docker images into the node's containerd (what `k3s ctr images import`
 * does), skipping those it has already.
 */
export async function loadImages(info: ClusterInfo, images: string[]): Promise<void> {
  if (info.kind !== "container" || !info.containerId) {
    throw new Error(
      "loadImages needs a cluster in a container; push the images to a registry your cluster can pull from",
    );
  }
  const containers = info.nodes?.map((node) => node.containerId) ?? [info.containerId];
  await Promise.all(
    containers.map(async (id) => {
      const present = await runOrThrow("docker", ["exec", id, "ctr", "-n", "k8s.io", "images", "ls", "-q"]);
      const missing = images.filter((image) => !present.split("\n").includes(image));
      if (missing.length === 0) return;
      const script = `docker save ${missing.map((i) => `'${i}'`).join(" ")} | docker exec -i ${id} ctr -n k8s.io images import -`;
      await runOrThrow("bash", ["-o", "pipefail", "-c", script]);
    }),
  );
}

/** A @kubernetes/client-node configuration for the cluster. */
export function kubeConfigOf(info: ClusterInfo): KubeConfig {
  const config = new KubeConfig();
  config.loadFromString(info.kubeconfig);
  return config;
}

/** Writes the kubeconfig to a file (for helm and kubectl) and returns its path. */
export function kubeconfigFile(info: ClusterInfo): string {
  const dir = join(cacheDir(), "kubeconfigs");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${info.containerId?.slice(0, 12) ?? "existing"}-${process.pid}.yaml`);
  writeFileSync(file, info.kubeconfig, { mode: 0o600 });
  return file;
}

/** The host address of a NodePort published out of the node container. */
export function hostAddressOf(info: ClusterInfo, nodePort: number): { host: string; port: number } {
  const port = info.hostPorts[nodePort];
  if (port === undefined) {
    throw new Error(
      `NodePort ${nodePort} is not published to the host (published: ${HOST_NODE_PORTS[0]}-${HOST_NODE_PORTS.at(-1)})`,
    );
  }
  return { host: "127.0.0.1", port };
}

/**
 * Re-reads the published ports of a container cluster: they change when the node
 * container restarts, and test workers hold a copy made before.
 */
export async function refreshClusterInfo(info: ClusterInfo): Promise<ClusterInfo> {
  if (info.kind !== "container" || !info.containerId) return info;
  const ports = JSON.parse(
    await runOrThrow("docker", ["inspect", "--format", "{{json .NetworkSettings.Ports}}", info.containerId]),
  ) as Record<string, { HostIp: string; HostPort: string }[] | null>;
  const hostPort = (containerPort: number) => {
    const binding = ports[`${containerPort}/tcp`]?.find((b) => b.HostIp === "127.0.0.1" || b.HostIp === "0.0.0.0");
    if (!binding) throw new Error(`port ${containerPort} of the node container is not published`);
    return Number(binding.HostPort);
  };
  return {
    ...info,
    kubeconfig: info.kubeconfig.replace(
      /server: https:\/\/127\.0\.0\.1:\d+/,
      `server: https://127.0.0.1:${hostPort(6443)}`,
    ),
    hostPorts: Object.fromEntries(HOST_NODE_PORTS.map((port) => [port, hostPort(port)])),
  };
}
