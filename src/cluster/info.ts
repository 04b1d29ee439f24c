import type { ImageSet } from "../images/index.ts";
import type { SecurityProfile } from "./node-container.ts";

/**
 * What a test process needs to use a cluster someone else started: serialisable, so the
 * global setup can hand it to the test workers. `Cluster.connect(info)` turns it into a
 * handle with methods.
 */
export interface ClusterInfo {
  /** `container`: nodes the harness started in Docker; `existing`: a cluster of the user's (VALKEY_KUBECONFIG). */
  kind: "container" | "existing";
  kubeconfig: string;
  /** Every node container, server first (container clusters only). */
  nodes?: NodeContainerInfo[];
  /** The Docker network the nodes share (container clusters only). */
  network?: string;
  /** Image the nodes run (container clusters only). */
  nodeImage?: string;
  securityProfile?: SecurityProfile;
  /** NodePort -> host port on 127.0.0.1, published by the server's container (container clusters only). */
  hostPorts: Record<number, number>;
  /** The workload images loaded into the cluster, when the harness built them. */
  images?: ImageSet;
  /** Seconds from the start of the containers until every node was Ready. */
  startSeconds?: number;
  /** The agents whose volumes can lose power with them (src/cluster/power-loss.ts), when lazydisk could be built. */
  powerLossDisks?: { agents: string[] };
}

export interface NodeContainerInfo {
  name: string;
  containerId: string;
  role: "server" | "agent";
}
