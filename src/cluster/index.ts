import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import type { StartedK3sContainer } from "@testcontainers/k3s";
import { builtImages, ensureImages, type ImageSet } from "../images/index.ts";
import { run, runOrThrow } from "../process.ts";
import { cacheDir, choiceSetting } from "../settings.ts";
import { disownContainer, ownContainer, reapLeftovers } from "./cleanup.ts";
import { HOST_NODE_PORTS, KubeNodeContainer, type SecurityProfile } from "./node-container.ts";

export { HOST_NODE_PORTS, KubeNodeContainer, type SecurityProfile } from "./node-container.ts";

/**
 * What a test process needs to use a cluster someone else started: serialisable, so the
 * global setup can hand it to the test workers.
 */
export interface ClusterInfo {
  kind: "container" | "existing";
  kubeconfig: string;
  /** Node container id (container clusters only). */
  containerId?: string;
  /** Image the node runs (container clusters only). */
  nodeImage?: string;
  securityProfile?: SecurityProfile;
  /** NodePort -> host port on 127.0.0.1 (container clusters only). */
  hostPorts: Record<number, number>;
  /** The workload images loaded into the cluster, when the harness built them. */
  images?: ImageSet;
  startSeconds?: number;
}

export interface StartClusterOptions {
  /** Node image; default: VALKEY_CLUSTER_IMAGE, else the offline kube-node image (built if needed). */
  image?: string;
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

/** A running cluster in a container, started by this process. */
export class StartedCluster {
  private container: StartedK3sContainer;
  readonly info: ClusterInfo;

  constructor(container: StartedK3sContainer, info: ClusterInfo) {
    this.container = container;
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
    await this.container.stop({ removeVolumes: true });
    disownContainer(this.id);
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

/**
 * Starts a one-node Kubernetes cluster in a container through K3sContainer: the offline
 * kube-node image by default, rancher/k3s or any compatible image by a setting.
 */
export async function startCluster(options: StartClusterOptions = {}): Promise<StartedCluster> {
  const log = options.log ?? console.log;
  await requireDocker();
  process.env.TESTCONTAINERS_RYUK_DISABLED ??= "true"; // no registry for Ryuk's image; we clean up ourselves
  await reapLeftovers(log);

  const requestedImage = options.image ?? process.env.VALKEY_CLUSTER_IMAGE;
  const images = requestedImage ? await builtImages() : await ensureImages(log);
  const image = requestedImage ?? (images as ImageSet).node;
  const requested = options.securityProfile ?? choiceSetting("VALKEY_CLUSTER_PROFILE", PROFILE_CHOICES, "auto");
  const profile = requested === "auto" ? await detectSecurityProfile(images?.helper ?? image) : requested;

  log(`[cluster] starting ${image} (${profile})`);
  const started = performance.now();
  const container = await new KubeNodeContainer(image)
    .withSecurityProfile(profile)
    .withCommand(["server", "--disable=traefik", "--disable=metrics-server", "--node-name=valkey-harness-server"])
    .start();
  ownContainer(container.getId());
  const startSeconds = (performance.now() - started) / 1000;
  log(`[cluster] node ready in ${startSeconds.toFixed(1)} s (container ${container.getId().slice(0, 12)})`);

  const cluster = new StartedCluster(container, {
    kind: "container",
    kubeconfig: loopbackKubeconfig(container),
    containerId: container.getId(),
    nodeImage: image,
    securityProfile: profile,
    hostPorts: hostPortMap(container),
    images,
    startSeconds,
  });
  if (images) await loadImages(cluster.info, [images.valkey, images.exporter, images.helper]);
  return cluster;
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
  const present = await runOrThrow("docker", ["exec", info.containerId, "ctr", "-n", "k8s.io", "images", "ls", "-q"]);
  const missing = images.filter((image) => !present.split("\n").includes(image));
  if (missing.length === 0) return;
  const script = `docker save ${missing.map((i) => `'${i}'`).join(" ")} | docker exec -i ${info.containerId} ctr -n k8s.io images import -`;
  await runOrThrow("bash", ["-o", "pipefail", "-c", script]);
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
