import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { V1Deployment } from "@kubernetes/client-node";
import { fillOnce } from "../files.ts";
import { type Kube, statusCode } from "../kube/index.ts";
import { run, runOrThrow } from "../process.ts";
import { cacheDir } from "../settings.ts";
import { createServedClass } from "./drivers.ts";

/**
 * Disks that lose power with their node. Each agent node runs `lazydisk`
 * (tools/lazydisk: a FUSE file system over a directory of the node's container) at
 * POWER_LOSS_PATH before Kubernetes starts: written data reaches the backing directory
 * only when fsync'd or written back after 30 s, as a kernel's page cache does. Killing the
 * node's container kills lazydisk with it, so a node crash loses the file data a machine
 * losing power would (metadata always survives: docs/durability-and-failover.md says what
 * is not simulated). A local-path-provisioner instance serves volumes from that path
 * under POWER_LOSS_PROVISIONER; a release opts in with fixtures/scenarios/power-loss-disk.yaml.
 */
export const POWER_LOSS_PATH = "/var/lib/valkey-harness/power-loss";
const BACKING_PATH = "/var/lib/valkey-harness/disk";
export const LAZYDISK_IN_NODE = "/usr/local/bin/lazydisk";
export const POWER_LOSS_PROVISIONER = "power-loss.valkey-harness.io";
export const POWER_LOSS_CLASS = "power-loss";
const PROVISIONER_NAME = "local-path-power-loss";

const LAZYDISK_MODULE = fileURLToPath(new URL("../../tools/lazydisk/", import.meta.url));

/**
 * The lazydisk binary for Linux nodes of the node image's architecture (Go's names, as
 * Docker reports them), built from tools/lazydisk (its go.sum pins go-fuse) on first use
 * and kept in the cache under the hash of its sources. Undefined without Go: the cluster
 * then has no power-loss disks and the suites that need them say so.
 */
export async function lazydiskBinary(
  goArch: string,
  log: (line: string) => void = console.log,
): Promise<string | undefined> {
  if ((await run("go", ["version"]).catch(() => ({ code: 127 }))).code !== 0) return undefined;
  const hash = createHash("sha256");
  for (const file of readdirSync(LAZYDISK_MODULE).sort()) {
    if (/\.(go|mod|sum)$/.test(file) && !file.endsWith("_test.go"))
      hash.update(file).update(readFileSync(join(LAZYDISK_MODULE, file)));
  }
  const target = join(cacheDir(), "bin", `lazydisk-linux-${goArch}-${hash.digest("hex").slice(0, 12)}`);
  const binary = join(target, "lazydisk");
  await fillOnce(
    target,
    async (dir) => {
      log(`[cluster] building lazydisk (tools/lazydisk) for the nodes' power-loss disks`);
      await runOrThrow("go", ["-C", LAZYDISK_MODULE, "build", "-trimpath", "-o", join(dir, "lazydisk"), "."], {
        env: { ...process.env, CGO_ENABLED: "0", GOOS: "linux", GOARCH: goArch },
      });
    },
    (dir) => existsSync(join(dir, "lazydisk")),
  );
  return binary;
}

/**
 * The agent's entrypoint: mounts lazydisk at POWER_LOSS_PATH, then runs the image's own
 * entrypoint with the container's command. A node whose disk does not mount does not
 * start: volumes on a plain directory would pass every power-loss scenario vacuously.
 */
export function entrypointWithPowerLossDisk(imageEntrypoint: readonly string[]): string[] {
  const script = [
    "set -e",
    `mkdir -p "${BACKING_PATH}" "${POWER_LOSS_PATH}" "${dirname(LAZYDISK_LOG)}"`,
    "[ -e /dev/fuse ] || mknod /dev/fuse c 10 229",
    `"${LAZYDISK_IN_NODE}" "${BACKING_PATH}" "${POWER_LOSS_PATH}" >"${LAZYDISK_LOG}" 2>&1 &`,
    "disk=$!",
    "i=0",
    `until grep -qs ' ${POWER_LOSS_PATH} fuse' /proc/self/mounts; do`,
    `  if ! kill -0 "$disk" 2>/dev/null || [ "$i" -ge 100 ]; then echo "lazydisk did not mount ${POWER_LOSS_PATH}:" >&2; cat "${LAZYDISK_LOG}" >&2; exit 1; fi`,
    "  i=$((i + 1)); sleep 0.1",
    "done",
    'exec "$@"',
  ].join("\n");
  return ["/bin/sh", "-c", script, "power-loss-disk", ...imageEntrypoint];
}

/** Where an agent keeps lazydisk's log: beside the offline node image's component logs, which a failed start prints. */
const LAZYDISK_LOG = "/var/log/kube-node/lazydisk.log";

/** The entrypoint an image declares, and its architecture (`docker image inspect`; pulled first if missing). */
export async function imageEntrypoint(image: string): Promise<{ entrypoint: string[]; architecture: string }> {
  const inspect = () =>
    run("docker", ["image", "inspect", "-f", "{{json .Config.Entrypoint}} {{.Architecture}}", image]);
  let found = await inspect();
  if (found.code !== 0) {
    await runOrThrow("docker", ["pull", image]);
    found = await inspect();
  }
  if (found.code !== 0) throw new Error(`docker image inspect ${image}: ${found.stderr.trim()}`);
  const [json, architecture] = found.stdout.trim().split(" ") as [string, string];
  const entrypoint = JSON.parse(json) as string[] | null;
  if (!entrypoint?.length)
    throw new Error(`image ${image} declares no entrypoint to run after mounting the power-loss disk`);
  return { entrypoint, architecture };
}

/** Whether lazydisk is mounted at POWER_LOSS_PATH in a node (its /proc/mounts). */
export function powerLossDiskMounted(mounts: string): boolean {
  return mounts
    .split("\n")
    .some((line) => line.split(" ")[1] === POWER_LOSS_PATH && line.split(" ")[2]?.startsWith("fuse"));
}

/** The cluster's local-path-provisioner: the offline node image's (local-path-storage) or k3s's own (kube-system). */
async function localPathProvisioner(kube: Kube): Promise<V1Deployment> {
  const found = (await kube.apps.listDeploymentForAllNamespaces()).items.find(
    (d) => d.metadata?.name === "local-path-provisioner",
  );
  if (!found) throw new Error("the cluster runs no local-path-provisioner Deployment to serve power-loss disks with");
  return found;
}

/**
 * Serves volumes from the agents' power-loss disks: a local-path-provisioner instance
 * named POWER_LOSS_PROVISIONER whose configuration lists only the agents (a volume is
 * never placed on a plain directory of the server). The StorageClass POWER_LOSS_CLASS
 * makes the provisioner one the cluster serves (the fit stands in for drivers it does not);
 * releases use their own class of that provisioner. Idempotent; the provisioner's pod is
 * not waited for (a claim waits for it).
 */
export async function servePowerLossDisks(kube: Kube, agents: readonly string[]): Promise<void> {
  const ignoreExisting = (error: unknown) => (statusCode(error) === 409 ? undefined : Promise.reject(error));
  const original = await localPathProvisioner(kube);
  const namespace = original.metadata?.namespace as string;
  const configVolume = original.spec?.template.spec?.volumes?.find((v) => v.configMap)?.configMap?.name;
  if (!configVolume) throw new Error("the cluster's local-path-provisioner mounts no ConfigMap to copy");
  const config = await kube.core.readNamespacedConfigMap({ name: configVolume, namespace });
  const configName = `${PROVISIONER_NAME}-config`;
  await kube.core
    .createNamespacedConfigMap({
      namespace,
      body: {
        metadata: { name: configName, namespace },
        data: {
          ...config.data,
          "config.json": JSON.stringify({ nodePathMap: agents.map((node) => ({ node, paths: [POWER_LOSS_PATH] })) }),
        },
      },
    })
    .catch(ignoreExisting);
  const deployment = structuredClone(original);
  deployment.metadata = { name: PROVISIONER_NAME, namespace, labels: { app: PROVISIONER_NAME } };
  const spec = deployment.spec as NonNullable<V1Deployment["spec"]>;
  spec.selector = { matchLabels: { app: PROVISIONER_NAME } };
  spec.template.metadata = { labels: { app: PROVISIONER_NAME } };
  const container = spec.template.spec?.containers[0];
  if (!container?.command) throw new Error("the cluster's local-path-provisioner Deployment has no command to extend");
  container.command = [
    ...container.command,
    "--provisioner-name",
    POWER_LOSS_PROVISIONER,
    "--configmap-name",
    configName,
  ];
  for (const volume of spec.template.spec?.volumes ?? []) {
    if (volume.configMap?.name === configVolume) volume.configMap.name = configName;
  }
  deployment.status = undefined;
  await kube.apps.createNamespacedDeployment({ namespace, body: deployment }).catch(ignoreExisting);
  await createServedClass(kube, POWER_LOSS_CLASS, POWER_LOSS_PROVISIONER);
}
