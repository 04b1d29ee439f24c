import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { waitFor } from "../kube/index.ts";
import { run, runOrThrow } from "../process.ts";
import type { Cluster, NodeControl } from "./cluster.ts";
import type { NodeContainerInfo } from "./info.ts";

/** What one node's upgrade took, step by step, in seconds. */
export interface NodeUpgradeStep {
  node: string;
  role: "server" | "agent";
  from: string;
  to: string;
  drainSeconds: number;
  /** Stopping the node and putting the new release's files in. */
  binariesSeconds: number;
  /** From the start of the node's container until the node reported Ready on the new kubelet. */
  restartSeconds: number;
  totalSeconds: number;
}

/**
 * What a node of the next release brings, as `kubeadm upgrade` plus new packages would:
 * the binaries (kubelet, control plane, etcd, containerd, ...), the control-plane command
 * lines kubeadm of that release rendered (server only), the add-on manifests and the
 * images they run (CoreDNS, pause). The node's own state (PKI, etcd data, kubelet
 * credentials, volumes) stays.
 */
const CARRIED = [
  { path: "/usr/local/bin", folder: true },
  { path: "/etc/kube-node/versions", folder: false },
  { path: "/var/lib/kube-node/images", folder: true },
  { path: "/var/lib/kube-node/manifests", folder: true },
];
const CARRIED_BY_SERVER = [{ path: "/etc/kube-node/control-plane", folder: true }];

const kubectlOn = (server: NodeContainerInfo, args: string[]) => [
  "exec",
  server.containerId,
  "kubectl",
  "--kubeconfig=/etc/kubernetes/admin.conf",
  ...args,
];

/**
 * Upgrades one node container in place to `image` (a node image of the next Kubernetes
 * release) the way teams upgrade a node: `kubectl drain` (evictions honour the
 * PodDisruptionBudgets), the node stopped, the new release's files over the old ones, the
 * node started, Ready on the new kubelet version, `kubectl uncordon`.
 */
export async function upgradeNodeInPlace(
  cluster: Cluster,
  node: NodeContainerInfo,
  image: string,
  toVersion: string,
  log: (line: string) => void,
): Promise<NodeUpgradeStep> {
  const control = cluster.nodeControl as NodeControl;
  const server = control.nodes[0] as NodeContainerInfo;
  const from = (await cluster.kube.core.readNode({ name: node.name })).status?.nodeInfo?.kubeletVersion ?? "?";
  const started = performance.now();
  const seconds = (since: number) => Number(((performance.now() - since) / 1000).toFixed(1));

  log(`[node-upgrade] ${node.name}: drain`);
  const drained = await run(
    "docker",
    kubectlOn(server, [
      "drain",
      node.name,
      "--ignore-daemonsets",
      "--delete-emptydir-data",
      "--timeout=300s",
      "--grace-period=30",
    ]),
  );
  if (drained.code !== 0) throw new Error(`kubectl drain ${node.name} failed: ${drained.stderr.trim()}`);
  const drainSeconds = seconds(started);

  // Files go into the stopped container: a running kubelet's binary cannot be overwritten.
  const copyStarted = performance.now();
  await runOrThrow("docker", ["stop", "--time", "30", node.containerId]);
  const staging = mkdtempSync(join(tmpdir(), "node-upgrade-"));
  const source = (await runOrThrow("docker", ["create", image])).trim();
  try {
    for (const { path, folder } of [...CARRIED, ...(node.role === "server" ? CARRIED_BY_SERVER : [])]) {
      const local = join(staging, path.replaceAll("/", "_"));
      await runOrThrow("docker", ["cp", `${source}:${path}`, local]);
      // A folder's contents go over the folder's (its other files stay); a file replaces the file.
      await runOrThrow("docker", ["cp", folder ? `${local}/.` : local, `${node.containerId}:${path}`]);
    }
  } finally {
    await run("docker", ["rm", "-f", source]);
    rmSync(staging, { recursive: true, force: true });
  }
  const binariesSeconds = seconds(copyStarted);

  log(`[node-upgrade] ${node.name}: start on ${toVersion}`);
  const restartStarted = performance.now();
  await control.start(node);
  await waitFor(
    `${node.name} to run kubelet ${toVersion}`,
    async () => (await cluster.kube.core.readNode({ name: node.name })).status?.nodeInfo?.kubeletVersion === toVersion,
    { timeoutMs: 120_000, intervalMs: 500 },
  );
  const restartSeconds = seconds(restartStarted);
  await runOrThrow("docker", kubectlOn(server, ["uncordon", node.name]));
  const step = {
    node: node.name,
    role: node.role,
    from,
    to: toVersion,
    drainSeconds,
    binariesSeconds,
    restartSeconds,
    totalSeconds: seconds(started),
  };
  log(
    `[node-upgrade] ${node.name}: ${from} -> ${toVersion} in ${step.totalSeconds} s (drain ${drainSeconds} s, files ${binariesSeconds} s, restart ${restartSeconds} s)`,
  );
  return step;
}
