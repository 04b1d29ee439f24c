import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Readable } from "node:stream";
import type { StartedK3sContainer } from "@testcontainers/k3s";
import type { StartedTestContainer } from "testcontainers";
import { reportCleanupFailure } from "../cleanup-log.ts";
import { writeFileAtomic } from "../files.ts";
import { builtImages, type ImageSet } from "../images/index.ts";
import {
  findLocalRegistryContainer,
  imagesFromRegistry,
  LOCAL_REGISTRY_NAME,
  mirrorFiles,
} from "../images/registry.ts";
import { chooseImages } from "../images/source.ts";
import { isNodeReady, Kube, waitFor } from "../kube/index.ts";
import { run, runOrThrow } from "../process.ts";
import { cacheDir, setting } from "../settings.ts";
import { reapStaleNodeCgroups } from "./cgroups.ts";
import {
  createOwnedNetwork,
  disownContainer,
  harnessLabels,
  OWNER_PID_LABEL,
  reapLeftovers,
  removeOwnedNetwork,
} from "./cleanup.ts";
import { kubeConfigOf, withCurrentPorts } from "./cluster.ts";
import { dockerAnswers, dockerExec, loadImagesIntoNodes } from "./docker.ts";
import type { ClusterInfo } from "./info.ts";
import { KubeAgentContainer, KubeNodeContainer, type SecurityProfile } from "./node-container.ts";
import { imageEntrypoint, lazydiskBinary, POWER_LOSS_PROVISIONER, servePowerLossDisks } from "./power-loss.ts";

export {
  Cluster,
  type HostAccess,
  type ImageLoading,
  type NodeControl,
  type PowerLossDisks,
  RESTRICTED_CONTAINER,
  restrictedPod,
} from "./cluster.ts";
export type { ClusterInfo, NodeContainerInfo } from "./info.ts";
export { HOST_NODE_PORTS, KubeAgentContainer, KubeNodeContainer, type SecurityProfile } from "./node-container.ts";

export interface StartClusterOptions {
  /** Node image; default: VALKEY_CLUSTER_IMAGE, else the offline kube-node image (built if needed). */
  image?: string;
  /** Nodes that join the server; default VALKEY_CLUSTER_AGENTS (3: four nodes, one per pod of prod-01). */
  agents?: number;
  /** Default: VALKEY_CLUSTER_PROFILE (privileged, sandbox or auto); auto probes once and remembers. */
  securityProfile?: SecurityProfile | "auto";
  log?: (line: string) => void;
}

/**
 * Whether this Docker host runs privileged containers. Probed once per host and
 * remembered in the cache: here privileged mode fails with "unable to apply caps".
 */
export async function detectSecurityProfile(probeImage: string): Promise<SecurityProfile> {
  const remembered = join(cacheDir(), "docker-security-profile");
  if (existsSync(remembered)) return readFileSync(remembered, "utf8").trim() as SecurityProfile;
  const probe = await run("docker", ["run", "--rm", "--privileged", "--entrypoint", "/bin/true", probeImage]);
  const profile: SecurityProfile = probe.code === 0 ? "privileged" : "sandbox";
  writeFileAtomic(remembered, `${profile}\n`);
  return profile;
}

/** Thrown when no Docker engine answers: the one cause (besides missing images) that lets a laptop run skip. */
export class DockerUnavailable extends Error {
  constructor() {
    super(
      "No Docker engine answers (docker info failed). Start one (`bash .ci/run` installs and starts dockerd here; on a laptop start Docker Desktop or dockerd), or point VALKEY_KUBECONFIG at an existing cluster.",
    );
    this.name = "DockerUnavailable";
  }
}

/** A cluster in containers (a server and its agents) that this process started and must stop. */
export class StartedCluster {
  private readonly containers: StartedTestContainer[];
  readonly info: ClusterInfo;

  constructor(containers: StartedTestContainer[], info: ClusterInfo) {
    this.containers = containers;
    this.info = info;
  }

  getKubeConfig(): string {
    return this.info.kubeconfig;
  }

  /** Stops and removes every node container with its volumes, and the network. Reports each failure. */
  async stop(): Promise<void> {
    const failures: string[] = [];
    await Promise.all(
      this.containers.map(async (container) => {
        try {
          await container.stop({ removeVolumes: true });
          disownContainer(container.getId());
        } catch (error) {
          failures.push(
            `container ${container.getId().slice(0, 12)}: ${error instanceof Error ? error.message : error}`,
          );
        }
      }),
    );
    if (this.info.network) {
      try {
        await removeOwnedNetwork(this.info.network);
      } catch (error) {
        failures.push(`network ${this.info.network}: ${error instanceof Error ? error.message : error}`);
      }
    }
    for (const failure of failures) reportCleanupFailure(failure);
    if (failures.length > 0) throw new Error(`could not remove the cluster completely:\n  ${failures.join("\n  ")}`);
  }
}

/**
 * What agents need to mount a power-loss disk: lazydisk built for the node image's
 * architecture and the image's own entrypoint. Optional: without Go, or when the build
 * fails, the cluster starts without power-loss disks and says why.
 */
async function powerLossDiskForAgents(
  image: string,
  log: (line: string) => void,
): Promise<{ lazydisk: string; entrypoint: string[] } | undefined> {
  try {
    const { entrypoint, architecture } = await imageEntrypoint(image);
    const lazydisk = await lazydiskBinary(architecture, log);
    if (!lazydisk) log("[cluster] no power-loss disks: Go is not on PATH to build tools/lazydisk");
    return lazydisk ? { lazydisk, entrypoint } : undefined;
  } catch (error) {
    log(`[cluster] no power-loss disks: ${error instanceof Error ? error.message : error}`);
    return undefined;
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
  const agentCount = options.agents ?? setting("VALKEY_CLUSTER_AGENTS");
  if (!(await dockerAnswers())) throw new DockerUnavailable();
  process.env.TESTCONTAINERS_RYUK_DISABLED ??= "true"; // no registry for Ryuk's image; we clean up ourselves
  await reapLeftovers(log);

  const requestedImage = options.image ?? setting("VALKEY_CLUSTER_IMAGE");
  const choice = await chooseImages(undefined, !requestedImage);
  log(`[images] ${choice.reason}`);
  const images = choice.set;
  const image = requestedImage ?? choice.node;
  const requested = options.securityProfile ?? setting("VALKEY_CLUSTER_PROFILE");
  const profile = requested === "auto" ? await detectSecurityProfile(images?.helper ?? image) : requested;
  await reapStaleNodeCgroups(image, log);
  const disks = agentCount > 0 ? await powerLossDiskForAgents(image, log) : undefined;

  log(`[cluster] starting ${image} (${profile}): a server and ${agentCount} agent(s)`);
  const started = performance.now();
  const network = await createOwnedNetwork(`valkey-harness-${process.pid}-${randomBytes(3).toString("hex")}`);
  const token = newJoinToken();
  // Nodes pulling from a registry on this host's loopback reach it on their own network.
  const { nodeArgs, nodeFiles } = await registryForNodes(network, images, image, log);
  // Agents find the server by its container name (Docker's DNS on the network). Not a
  // network alias: with one, testcontainers also attaches the container to the default
  // bridge, and the node would advertise that address.
  const serverName = `${network}-server`;
  const agentNames = Array.from({ length: agentCount }, (_, i) => `valkey-harness-agent-${i + 1}`);
  // What each node printed: testcontainers removes a container whose start failed.
  const printed = new Map<string, string[]>();
  const keepPrinted = (name: string) => (stream: Readable) => {
    const lines: string[] = [];
    printed.set(name, lines);
    stream.on("data", (line: string | Buffer) => {
      lines.push(...String(line).trimEnd().split("\n"));
      lines.splice(0, Math.max(0, lines.length - 60));
    });
  };
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
      ...nodeArgs,
    ])
    .withCopyContentToContainer(nodeFiles)
    .withLogConsumer(keepPrinted(serverName))
    .start();
  // Agents are created once the server's container runs: created together, Docker started
  // the server last in some starts (1.5 s after the agents), and agents only wait for it.
  await containerRunning(serverName, serverStart);
  const agentStarts = agentNames.map((name) => {
    const containerName = `${network}-${name.replace("valkey-harness-", "")}`;
    const agent = new KubeAgentContainer(image, `https://${serverName}:6443`, token, name, nodeArgs);
    if (disks) agent.withPowerLossDisk(disks.lazydisk, disks.entrypoint);
    return agent
      .withCopyContentToContainer(nodeFiles)
      .withSecurityProfile(profile)
      .withNetworkMode(network)
      .withName(containerName)
      .withLogConsumer(keepPrinted(containerName))
      .start();
  });
  const results = await Promise.allSettled([serverStart, ...agentStarts]);
  // A node that failed to start is gone from `results`: find it by the network for its log.
  const failedIds = results.some((r) => r.status === "rejected")
    ? (
        await run("docker", [
          "ps",
          "-aq",
          "--filter",
          `network=${network}`,
          "--filter",
          `label=${OWNER_PID_LABEL}=${harnessLabels()[OWNER_PID_LABEL]}`,
        ])
      ).stdout
        .trim()
        .split("\n")
        .filter(Boolean)
    : [];
  const containers = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  const [server, ...agents] = containers as [StartedK3sContainer, ...StartedTestContainer[]];
  const info: ClusterInfo = {
    kind: "container",
    kubeconfig: failed ? "" : server.getKubeConfig(),
    nodes: failed
      ? []
      : [
          { name: SERVER_NODE, containerId: server.getId(), role: "server" },
          ...agents.map((agent, i) => ({
            name: agentNames[i] as string,
            containerId: agent.getId(),
            role: "agent" as const,
          })),
        ],
    network,
    nodeImage: image,
    securityProfile: profile,
    hostPorts: {},
    images,
    powerLossDisks: disks && !failed ? { agents: agentNames } : undefined,
  };
  const cluster = new StartedCluster(containers, info);
  try {
    if (failed) throw failed.reason;
    Object.assign(info, await withCurrentPorts(info));
    await waitForNodes(info, 1 + agentCount);
    if (image === images?.node) await waitForPodRoutes(info);
    info.startSeconds = (performance.now() - started) / 1000;
    if (agents.length > 0)
      await runOrThrow("docker", ["update", "--cpu-shares", "1024", ...agents.map((a) => a.getId())]);
    log(`[cluster] ${1 + agentCount} node(s) Ready in ${info.startSeconds.toFixed(1)} s`);
    if (info.powerLossDisks) {
      try {
        await servePowerLossDisks(new Kube(kubeConfigOf(info)), info.powerLossDisks.agents);
        log(`[cluster] volumes of provisioner ${POWER_LOSS_PROVISIONER} lose power with their agent (lazydisk)`);
      } catch (error) {
        info.powerLossDisks = undefined;
        log(`[cluster] no power-loss disks: ${error instanceof Error ? error.message : error}`);
      }
    }
    // The offline node image carries the workload images and imports them before its node
    // turns Ready; any other node image (rancher/k3s) gets them now.
    if (images && image !== images.node) {
      const loadStarted = performance.now();
      await loadImagesIntoNodes(
        containers.map((c) => c.getId()),
        [images.valkey, images.exporter, images.helper],
      );
      log(
        `[cluster] workload images loaded into every node in ${((performance.now() - loadStarted) / 1000).toFixed(1)} s`,
      );
    }
  } catch (error) {
    const started = containers.map((c) => c.getId());
    const ids = [...started, ...failedIds.filter((id) => !started.some((full) => full.startsWith(id)))];
    const logs = await Promise.all(ids.map(nodeLogTail));
    // Nodes whose start failed are gone (testcontainers removed them): what they printed.
    for (const [name, lines] of printed) {
      if (!containers.some((c) => c.getName().replace(/^\//, "") === name) && lines.length > 0)
        logs.push(`--- node container ${name} (removed after its start failed), its last lines:\n${lines.join("\n")}`);
    }
    await cluster.stop().catch((stopError) => console.error(`[cluster] ${stopError.message}`));
    if (failedIds.length > 0) await run("docker", ["rm", "-f", "-v", ...failedIds]);
    for (const id of failedIds) disownContainer(id);
    throw new Error(`${error instanceof Error ? error.message : error}\n${logs.join("\n")}`, { cause: error });
  }
  return cluster;
}

/**
 * When the nodes pull the harness's images from a registry (VALKEY_REGISTRY): the node
 * image's flag for its system images, and containerd's mirror files. A registry container
 * published on this host's 127.0.0.1 joins the cluster's network under a fixed alias.
 */
async function registryForNodes(
  network: string,
  images: ImageSet | undefined,
  nodeImage: string,
  log: (line: string) => void,
): Promise<{ nodeArgs: string[]; nodeFiles: { content: string; target: string }[] }> {
  const registry = images?.pulledFrom;
  if (!registry) return { nodeArgs: [], nodeFiles: [] };
  const nodeArgs = nodeImage === images.node ? [`--system-default-registry=${registry}`] : [];
  const local = await findLocalRegistryContainer(registry);
  if (!local) return { nodeArgs, nodeFiles: [] };
  await runOrThrow("docker", ["network", "connect", "--alias", LOCAL_REGISTRY_NAME, network, local.id]);
  const endpoint = `http://${LOCAL_REGISTRY_NAME}:${local.containerPort}`;
  log(`[cluster] nodes pull ${registry} through ${endpoint} (container ${local.name} joined ${network})`);
  return { nodeArgs, nodeFiles: mirrorFiles(registry, endpoint) };
}

/** Resolves once the named container runs, or `start` settles, whichever is first (at most 30 s). */
async function containerRunning(name: string, start: Promise<unknown>): Promise<void> {
  let settled = false;
  start.then(
    () => {
      settled = true;
    },
    () => {
      settled = true;
    },
  );
  for (const deadline = Date.now() + 30_000; !settled && Date.now() < deadline; ) {
    const state = await run("docker", ["inspect", "-f", "{{.State.Running}}", name]);
    if (state.stdout.trim() === "true") return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The last lines a node container printed, and of its component logs: what an engineer needs when a start fails. */
async function nodeLogTail(containerId: string): Promise<string> {
  const printed = await run("docker", ["logs", "--tail", "15", containerId]);
  const components = await run("docker", [
    "exec",
    containerId,
    "sh",
    "-c",
    'for f in /var/log/kube-node/*.log; do echo "--- $f"; tail -n 8 "$f"; done',
  ]);
  return `--- node container ${containerId.slice(0, 12)}\n${(printed.stdout + printed.stderr).trim()}\n${components.code === 0 ? components.stdout.trim() : ""}`;
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
    { timeoutMs, intervalMs: 250 },
  );
}

/**
 * Waits until every node container routes to every other node's pod CIDR: a node turns
 * Ready before the pods of the others are reachable from it, and suites start at once.
 */
export async function waitForPodRoutes(info: ClusterInfo, timeoutMs = 60_000): Promise<void> {
  const nodes = info.nodes ?? [];
  if (nodes.length < 2) return;
  const kube = new Kube(kubeConfigOf(info));
  await waitFor(
    "every node to route to the other nodes' pod CIDRs",
    async () => {
      const cidrs = new Map((await kube.core.listNode()).items.map((n) => [n.metadata?.name, n.spec?.podCIDR]));
      const routed = await Promise.all(
        nodes.map(async (node) => {
          const routes = await dockerExec(node.containerId, ["ip", "route", "show"]);
          return nodes
            .filter((other) => other.name !== node.name)
            .every((other) => routes.includes(`${cidrs.get(other.name) ?? "no CIDR yet"} `));
        }),
      );
      return routed.every(Boolean);
    },
    { timeoutMs, intervalMs: 250 },
  );
}

/**
 * Uses a cluster the user already has (kind, EKS, GKE, ...) through its kubeconfig. With
 * VALKEY_REGISTRY set, its nodes pull the harness's images from there and the chart runs
 * them. Else, when every node already holds the harness's built images (their names in
 * the nodes' status, as on a cluster from `npm run cluster -- up` or a kind cluster they
 * were loaded into), the chart runs them; otherwise the chart's own images are pulled
 * from their registries.
 */
export async function useExistingCluster(
  kubeconfigPath: string,
  log: (line: string) => void = console.log,
): Promise<ClusterInfo> {
  const info: ClusterInfo = { kind: "existing", kubeconfig: readFileSync(kubeconfigPath, "utf8"), hostPorts: {} };
  const docker = await dockerAnswers();
  // VALKEY_REGISTRY names where this cluster pulls the harness's images from: the chart runs those.
  const registry = setting("VALKEY_REGISTRY");
  if (docker && registry) {
    const pulled = await imagesFromRegistry(registry);
    // The registry's node image names the versions of the harness's clusters; this one reports its own.
    const [node] = (await new Kube(kubeConfigOf(info)).core.listNode()).items;
    info.images = {
      ...pulled,
      versions: {
        kubernetes: node?.status?.nodeInfo?.kubeletVersion ?? "",
        containerd: (node?.status?.nodeInfo?.containerRuntimeVersion ?? "").replace(/^containerd:\/\//, "v"),
        etcd: "",
        coredns: "",
      },
    };
    log(`[cluster] the nodes of ${kubeconfigPath} pull the harness's images from VALKEY_REGISTRY=${registry}`);
    return info;
  }
  const built = docker ? await builtImages().catch(() => undefined) : undefined;
  if (built) {
    const nodes = (await new Kube(kubeConfigOf(info)).core.listNode()).items;
    const onEveryNode = (image: string) =>
      nodes.length > 0 && nodes.every((node) => node.status?.images?.some((held) => held.names?.includes(image)));
    const wanted = [built.valkey, built.exporter, built.helper, built.prometheus];
    if (wanted.every(onEveryNode)) {
      info.images = built;
      log(
        `[cluster] every node of ${kubeconfigPath} holds the harness's images (${wanted.join(", ")}): the chart runs them`,
      );
    } else {
      log(`[cluster] the nodes of ${kubeconfigPath} do not hold the harness's images: the chart pulls its own`);
    }
  }
  return info;
}
