import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { V1Deployment } from "@kubernetes/client-node";
import { fillOnce } from "../files.ts";
import { type Kube, statusCode } from "../kube/index.ts";
import { run, runOrThrow } from "../process.ts";
import { cacheDir } from "../settings.ts";

/**
 * Disks that lose power with their node. Each agent node runs `lazydisk`
 * (tools/lazydisk: a FUSE file system over a directory of the node's container) at
 * POWER_LOSS_PATH before Kubernetes starts: written data reaches the backing directory
 * only when fsync'd or written back after 30 s, as a kernel's page cache does. Killing the
 * node's container kills lazydisk with it, so a node crash loses exactly what a machine
 * losing power would. A local-path-provisioner instance serves volumes from that path
 * under POWER_LOSS_PROVISIONER; a release opts in with fixtures/scenarios/power-loss-disk.yaml.
 */
export const POWER_LOSS_PATH = "/var/lib/valkey-harness/power-loss";
const BACKING_PATH = "/var/lib/valkey-harness/disk";
const BINARY_IN_NODE = "/usr/local/bin/lazydisk";
export const POWER_LOSS_PROVISIONER = "power-loss.valkey-harness.io";
export const POWER_LOSS_CLASS = "power-loss";
const PROVISIONER_NAMESPACE = "local-path-storage";
const PROVISIONER_NAME = "local-path-power-loss";

const LAZYDISK_MODULE = fileURLToPath(new URL("../../tools/lazydisk/", import.meta.url));

/** The node's architecture for Go: the node containers run on this host's architecture. */
function goArch(): string {
  const arch: Record<string, string> = { x64: "amd64", arm64: "arm64" };
  const found = arch[process.arch];
  if (!found) throw new Error(`lazydisk: no Go architecture known for ${process.arch}`);
  return found;
}

/**
 * The lazydisk binary for Linux nodes of this host's architecture, built from
 * tools/lazydisk (its go.sum pins go-fuse) on first use and kept in the cache under the
 * hash of its sources. Undefined without Go: the cluster then has no power-loss disks and
 * the suites that need them say so.
 */
export async function lazydiskBinary(log: (line: string) => void = console.log): Promise<string | undefined> {
  if ((await run("go", ["version"]).catch(() => ({ code: 127 }))).code !== 0) return undefined;
  const hash = createHash("sha256");
  for (const file of readdirSync(LAZYDISK_MODULE).sort()) {
    if (/\.(go|mod|sum)$/.test(file) && !file.endsWith("_test.go"))
      hash.update(file).update(readFileSync(join(LAZYDISK_MODULE, file)));
  }
  const target = join(cacheDir(), "bin", `lazydisk-linux-${goArch()}-${hash.digest("hex").slice(0, 12)}`);
  const binary = join(target, "lazydisk");
  await fillOnce(
    target,
    async (dir) => {
      log(`[cluster] building lazydisk (tools/lazydisk) for the nodes' power-loss disks`);
      await runOrThrow("go", ["-C", LAZYDISK_MODULE, "build", "-trimpath", "-o", join(dir, "lazydisk"), "."], {
        env: { ...process.env, CGO_ENABLED: "0", GOOS: "linux", GOARCH: goArch() },
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
    `mkdir -p ${BACKING_PATH} ${POWER_LOSS_PATH}`,
    "[ -e /dev/fuse ] || mknod /dev/fuse c 10 229",
    `${BINARY_IN_NODE} ${BACKING_PATH} ${POWER_LOSS_PATH} >/var/log/lazydisk.log 2>&1 &`,
    "i=0",
    `until grep -qs ' ${POWER_LOSS_PATH} fuse' /proc/self/mounts; do`,
    '  i=$((i + 1)); if [ "$i" -gt 100 ]; then echo "lazydisk did not mount:" >&2; cat /var/log/lazydisk.log >&2; exit 1; fi',
    "  sleep 0.1",
    "done",
    'exec "$@"',
  ].join("\n");
  return ["/bin/sh", "-c", script, "power-loss-disk", ...imageEntrypoint];
}

export const lazydiskInNode = BINARY_IN_NODE;

/** The entrypoint an image declares (`docker image inspect`). */
export async function imageEntrypoint(image: string): Promise<string[]> {
  const inspect = () => run("docker", ["image", "inspect", "-f", "{{json .Config.Entrypoint}}", image]);
  let found = await inspect();
  if (found.code !== 0) {
    await runOrThrow("docker", ["pull", image]);
    found = await inspect();
  }
  if (found.code !== 0) throw new Error(`docker image inspect ${image}: ${found.stderr.trim()}`);
  const out = found.stdout;
  const entrypoint = JSON.parse(out.trim()) as string[] | null;
  if (!entrypoint?.length)
    throw new Error(`image ${image} declares no entrypoint to run after mounting the power-loss disk`);
  return entrypoint;
}

/** Whether lazydisk is mounted at POWER_LOSS_PATH in a node (its /proc/mounts). */
export function powerLossDiskMounted(mounts: string): boolean {
  return mounts
    .split("\n")
    .some((line) => line.split(" ")[1] === POWER_LOSS_PATH && line.split(" ")[2]?.startsWith("fuse"));
}

/**
 * Serves volumes from the agents' power-loss disks: a local-path-provisioner instance
 * named POWER_LOSS_PROVISIONER whose configuration lists only the agents (a volume is
 * never placed on a plain directory of the server), and the StorageClass POWER_LOSS_CLASS.
 * Idempotent; the provisioner's pod is not waited for (a claim waits for it).
 */
export async function servePowerLossDisks(kube: Kube, agents: readonly string[]): Promise<void> {
  const ignoreExisting = (error: unknown) => (statusCode(error) === 409 ? undefined : Promise.reject(error));
  const config = await kube.core.readNamespacedConfigMap({
    name: "local-path-config",
    namespace: PROVISIONER_NAMESPACE,
  });
  const configName = `${PROVISIONER_NAME}-config`;
  await kube.core
    .createNamespacedConfigMap({
      namespace: PROVISIONER_NAMESPACE,
      body: {
        metadata: { name: configName, namespace: PROVISIONER_NAMESPACE },
        data: {
          ...config.data,
          "config.json": JSON.stringify({ nodePathMap: agents.map((node) => ({ node, paths: [POWER_LOSS_PATH] })) }),
        },
      },
    })
    .catch(ignoreExisting);
  const original = await kube.apps.readNamespacedDeployment({
    name: "local-path-provisioner",
    namespace: PROVISIONER_NAMESPACE,
  });
  const deployment = structuredClone(original) as V1Deployment;
  deployment.metadata = { name: PROVISIONER_NAME, namespace: PROVISIONER_NAMESPACE, labels: { app: PROVISIONER_NAME } };
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
    if (volume.configMap?.name === "local-path-config") volume.configMap.name = configName;
  }
  deployment.status = undefined;
  await kube.apps
    .createNamespacedDeployment({ namespace: PROVISIONER_NAMESPACE, body: deployment })
    .catch(ignoreExisting);
  await kube.storage
    .createStorageClass({
      body: {
        metadata: { name: POWER_LOSS_CLASS },
        provisioner: POWER_LOSS_PROVISIONER,
        volumeBindingMode: "WaitForFirstConsumer",
        reclaimPolicy: "Delete",
      },
    })
    .catch(ignoreExisting);
}
