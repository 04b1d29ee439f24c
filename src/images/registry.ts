import { harnessLabels, keepAfterExit } from "../cluster/cleanup.ts";
import { run, runOrThrow } from "../process.ts";
import { builtImages, everyImageOf, type ImageSet, inputHash, kubernetesVersionOfInputs } from "./index.ts";

/** The container name of the local registry (`npm run registry -- up`), and its alias on a cluster's network. */
export const LOCAL_REGISTRY_NAME = "valkey-harness-registry";
const REGISTRY_CONTAINER_PORT = 5000;
const REGISTRY_LABEL = "org.valkey-harness.registry";

/** What a registry must hold for the harness's registry path: every image of a build but the registry's own. */
export function imagesOfSet(set: ImageSet): string[] {
  return everyImageOf({ ...set, registry: undefined });
}

/** `localhost/valkey:9` under registry `127.0.0.1:5000`: `127.0.0.1:5000/valkey:9`. */
export function underRegistry(image: string, registry: string): string {
  return `${registry}/${image.replace(/^localhost\//, "")}`;
}

/** A Docker container on this host that serves `registry` (host:port on 127.0.0.1), with the port it listens on inside. */
export interface LocalRegistryContainer {
  id: string;
  name: string;
  containerPort: number;
}

/**
 * The container publishing `registry`'s port on 127.0.0.1, if the registry is one on this
 * Docker host: node containers cannot reach the host's loopback, so the harness attaches
 * it to the cluster's network and points containerd there.
 */
export async function findLocalRegistryContainer(registry: string): Promise<LocalRegistryContainer | undefined> {
  const match = /^(127\.0\.0\.1|localhost):(\d+)$/.exec(registry);
  if (!match) return undefined;
  const hostPort = match[2];
  const ids = (await run("docker", ["ps", "-q"])).stdout.trim().split("\n").filter(Boolean);
  for (const id of ids) {
    const inspected = await runOrThrow("docker", [
      "inspect",
      "--format",
      "{{.Name}} {{json .NetworkSettings.Ports}}",
      id,
    ]);
    const space = inspected.indexOf(" ");
    const ports = JSON.parse(inspected.slice(space + 1)) as Record<
      string,
      { HostIp: string; HostPort: string }[] | null
    > | null;
    for (const [port, bindings] of Object.entries(ports ?? {})) {
      if (bindings?.some((b) => b.HostPort === hostPort && ["127.0.0.1", "0.0.0.0", ""].includes(b.HostIp))) {
        return { id, name: inspected.slice(0, space).replace(/^\//, ""), containerPort: Number.parseInt(port, 10) };
      }
    }
  }
  return undefined;
}

/**
 * The harness's images as a registry holds them under their own names: the node image of
 * the current inputs is pulled, and its label names the rest (built with it).
 */
export async function imagesFromRegistry(registry: string): Promise<ImageSet> {
  const hash = inputHash();
  const node = `${registry}/kube-node:${kubernetesVersionOfInputs()}-${hash}`;
  const pulled = await run("docker", ["pull", "-q", node]);
  if (pulled.code !== 0) {
    throw new Error(
      `VALKEY_REGISTRY=${registry}: could not pull ${node} (${pulled.stderr.trim() || pulled.stdout.trim()}). The registry must hold the images built from this checkout's fixtures/images (inputs ${hash}): push them with \`npm run registry -- up\` on a machine that built them, or unset VALKEY_REGISTRY.`,
    );
  }
  const label = (
    await runOrThrow("docker", ["image", "inspect", "--format", '{{index .Config.Labels "kube-node.images"}}', node])
  ).trim();
  const named = Object.fromEntries(label.split(",").map((pair) => pair.split("=") as [string, string]));
  const missing = ["valkey", "exporter", "helper", "prometheus", "pause", "coredns", "local-path"].filter(
    (key) => !named[key],
  );
  if (missing.length > 0) throw new Error(`${node} does not name its ${missing.join(", ")} image(s) in its labels`);
  const versions = Object.fromEntries(
    (await runOrThrow("docker", ["run", "--rm", "--entrypoint", "cat", node, "/etc/kube-node/versions"]))
      .trim()
      .split("\n")
      .map((line) => line.split("=") as [string, string]),
  );
  const at = (image: string) => underRegistry(image, registry);
  return {
    inputs: hash,
    node,
    valkey: at(named.valkey as string),
    exporter: at(named.exporter as string),
    helper: at(named.helper as string),
    prometheus: at(named.prometheus as string),
    system: [named.pause, named.coredns, named["local-path"]].map((image) => at(image as string)),
    pulledFrom: registry,
    versions: {
      kubernetes: versions.kubernetes ?? "",
      containerd: versions.containerd ?? "",
      etcd: versions.etcd ?? "",
      coredns: versions.coredns ?? "",
    },
  };
}

export interface LocalRegistry {
  /** host:port on 127.0.0.1, the value of VALKEY_REGISTRY. */
  address: string;
  containerId: string;
}

/**
 * Starts a plain-HTTP registry in a container published on 127.0.0.1:`port` (the offline
 * crane image) and pushes every image of the current build into it under its own name.
 * The container outlives the command (`npm run registry -- down` removes it).
 */
export async function startLocalRegistry(port: number, log: (line: string) => void): Promise<LocalRegistry> {
  const built = await builtImages();
  if (!built?.registry) throw new Error("no images of the current inputs with a registry image: run `npm run images`");
  await stopLocalRegistry(() => {});
  const address = `127.0.0.1:${port}`;
  keepAfterExit(); // labelled as the harness's, never reaped as a crash's leftover; `down` removes it
  const labels = Object.entries(harnessLabels()).flatMap(([key, value]) => ["--label", `${key}=${value}`]);
  const containerId = (
    await runOrThrow("docker", [
      "run",
      "-d",
      "--name",
      LOCAL_REGISTRY_NAME,
      "--label",
      `${REGISTRY_LABEL}=${address}`,
      ...labels,
      "-p",
      `${address}:${REGISTRY_CONTAINER_PORT}`,
      built.registry,
    ])
  ).trim();
  for (let i = 0; i < 100; i++) {
    const answer = await fetch(`http://${address}/v2/`).catch(() => undefined);
    if (answer?.ok) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const started = performance.now();
  for (const image of imagesOfSet(built)) {
    const target = underRegistry(image, address);
    await runOrThrow("docker", ["tag", image, target]);
    await runOrThrow("docker", ["push", "-q", target]);
    await run("docker", ["rmi", target]);
    log(`[registry] pushed ${target}`);
  }
  log(
    `[registry] ${imagesOfSet(built).length} images pushed in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
  return { address, containerId };
}

/**
 * Removes the local registry container, if there is one, and the host's copies of images
 * pulled from it (the node image the harness pulled to start nodes); says what it removed.
 */
export async function stopLocalRegistry(log: (line: string) => void): Promise<void> {
  const containers = (
    await run("docker", [
      "ps",
      "-a",
      "--filter",
      `label=${REGISTRY_LABEL}`,
      "--format",
      `{{.ID}} {{.Label "${REGISTRY_LABEL}"}}`,
    ])
  ).stdout
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((line) => line.split(" ") as [string, string]);
  if (containers.length === 0) {
    log("[registry] no local registry to remove");
    return;
  }
  await runOrThrow("docker", ["rm", "-f", "-v", ...containers.map(([id]) => id)]);
  log(`[registry] removed the local registry (${containers.map(([id, address]) => `${id} on ${address}`).join(", ")})`);
  const addresses = containers.map(([, address]) => address);
  const pulled = (await run("docker", ["images", "--format", "{{.Repository}}:{{.Tag}}"])).stdout
    .split("\n")
    .filter((image) => addresses.some((address) => image.startsWith(`${address}/`)));
  if (pulled.length > 0) {
    await run("docker", ["rmi", ...pulled]);
    log(`[registry] removed the host's copies of ${pulled.length} image(s) pulled from it`);
  }
}

/**
 * Files that point a node's containerd (and k3s) at a registry container on the cluster's
 * network for `registry`'s name, over plain HTTP.
 */
export function mirrorFiles(registry: string, endpoint: string): { content: string; target: string }[] {
  return [
    {
      target: `/etc/containerd/certs.d/${registry}/hosts.toml`,
      content: `server = "${endpoint}"\n\n[host."${endpoint}"]\n  capabilities = ["pull", "resolve"]\n`,
    },
    {
      target: "/etc/rancher/k3s/registries.yaml",
      content: `mirrors:\n  "${registry}":\n    endpoint:\n      - "${endpoint}"\n`,
    },
  ];
}
