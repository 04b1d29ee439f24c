import { K3sContainer } from "@testcontainers/k3s";
import { harnessLabels } from "./cleanup.ts";

/** How the node container gets the rights a Kubernetes node needs. */
export type SecurityProfile = "privileged" | "sandbox";

/** NodePorts published to the host on 127.0.0.1: the path for Valkey and load traffic. */
export const HOST_NODE_PORTS = Array.from({ length: 24 }, (_, i) => 30_000 + i);

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

  /**
   * `sandbox` is for hosts that refuse privileged containers (here: no CAP_SYS_RESOURCE
   * in the bounding set): every capability but that one, no seccomp/AppArmor, all devices.
   */
  withSecurityProfile(profile: SecurityProfile): this {
    this.profile = profile;
    if (profile === "sandbox") {
      this.hostConfig.Privileged = false;
      this.hostConfig.DeviceCgroupRules = ["a *:* rwm"];
      this.hostConfig.MaskedPaths = [];
      this.hostConfig.ReadonlyPaths = [];
      this.withAddedCapabilities("ALL")
        .withDroppedCapabilities("SYS_RESOURCE")
        .withSecurityOpt("seccomp=unconfined", "apparmor=unconfined");
    } else {
      this.withPrivilegedMode();
    }
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
