import { K3sContainer } from "@testcontainers/k3s";
import { GenericContainer } from "testcontainers";
import { harnessLabels } from "./cleanup.ts";
import { entrypointWithPowerLossDisk, LAZYDISK_IN_NODE } from "./power-loss.ts";

/** How the node container gets the rights a Kubernetes node needs. */
export type SecurityProfile = "privileged" | "sandbox";

/** NodePorts published to the host on 127.0.0.1: the path for Valkey and load traffic. */
export const HOST_NODE_PORTS = Array.from({ length: 24 }, (_, i) => 30_000 + i);

type HostConfig = GenericContainer["hostConfig"];

/**
 * `sandbox` is for hosts that refuse privileged containers (here: no CAP_SYS_RESOURCE
 * in the bounding set): every capability but that one, no seccomp/AppArmor, all devices.
 */
function applySecurityProfile(container: GenericContainer, hostConfig: HostConfig, profile: SecurityProfile): void {
  if (profile === "sandbox") {
    hostConfig.Privileged = false;
    hostConfig.DeviceCgroupRules = ["a *:* rwm"];
    hostConfig.MaskedPaths = [];
    hostConfig.ReadonlyPaths = [];
    container
      .withAddedCapabilities("ALL")
      .withDroppedCapabilities("SYS_RESOURCE")
      .withSecurityOpt("seccomp=unconfined", "apparmor=unconfined");
  } else {
    container.withPrivilegedMode();
  }
}

/**
 * K3sContainer with the harness's settings: the security profile, labels for cleanup,
 * ports published on 127.0.0.1 only, and the NodePort range reserved for host access.
 * Drives `rancher/k3s` and the offline kube-node image alike.
 */
export class KubeNodeContainer extends K3sContainer {
  private profile: SecurityProfile = "privileged";

  constructor(image: string) {
    super(image);
    this.withLabels(harnessLabels()).withExposedPorts(...HOST_NODE_PORTS);
  }

  withSecurityProfile(profile: SecurityProfile): this {
    this.profile = profile;
    applySecurityProfile(this, this.hostConfig, profile);
    return this;
  }

  get securityProfile(): SecurityProfile {
    return this.profile;
  }

  protected override async beforeContainerCreated(): Promise<void> {
    await super.beforeContainerCreated();
    // Published ports listen on loopback only: nothing outside this machine reaches the cluster.
    for (const bindings of Object.values(this.hostConfig.PortBindings ?? {})) {
      for (const binding of bindings as { HostIp?: string }[]) binding.HostIp = "127.0.0.1";
    }
  }
}

/**
 * CPU weight of an agent's own processes while the cluster starts (Docker's default: 1024).
 * The server's API server is the start's critical path and agents wait for it; on a
 * machine of two cores, four nodes starting at once share them evenly otherwise. Pods are
 * not affected (their cgroups are the kubelet's, outside the container's).
 */
export const AGENT_START_CPU_SHARES = 256;

/**
 * A node that joins a server, the way `k3s agent` does: K3S_URL and K3S_TOKEN in the
 * environment, the same container settings as the server, nothing published to the host.
 * It is ready when the server lists its node Ready (agents print no marker of their own).
 */
export class KubeAgentContainer extends GenericContainer {
  constructor(image: string, serverUrl: string, token: string, nodeName: string, extraArgs: string[] = []) {
    super(image);
    Object.assign(this.hostConfig, { CgroupnsMode: "host", CpuShares: AGENT_START_CPU_SHARES }); // cgroupns as K3sContainer
    this.withLabels(harnessLabels())
      .withBindMounts([{ source: "/sys/fs/cgroup", target: "/sys/fs/cgroup" }])
      .withTmpFs({ "/run": "rw", "/var/run": "rw" })
      .withEnvironment({ K3S_URL: serverUrl, K3S_TOKEN: token })
      .withCommand(["agent", `--node-name=${nodeName}`, ...extraArgs]);
  }

  withSecurityProfile(profile: SecurityProfile): this {
    applySecurityProfile(this, this.hostConfig, profile);
    return this;
  }

  /** Mounts lazydisk before the node starts (src/cluster/power-loss.ts): volumes that lose power with the node. */
  withPowerLossDisk(lazydisk: string, imageEntrypoint: readonly string[]): this {
    // No device to add: privileged nodes see every device, sandboxed ones may make
    // /dev/fuse (the entrypoint does) under their "a *:* rwm" device rule.
    return this.withCopyFilesToContainer([{ source: lazydisk, target: LAZYDISK_IN_NODE, mode: 0o755 }]).withEntrypoint(
      entrypointWithPowerLossDisk(imageEntrypoint),
    );
  }
}
