import { PassThrough } from "node:stream";
import {
  ApisApi,
  AppsV1Api,
  CoreApi,
  CoreV1Api,
  DiscoveryV1Api,
  Exec,
  type KubeConfig,
  NetworkingV1Api,
  StorageV1Api,
  type V1Node,
  type V1Pod,
  type V1Service,
  type V1Status,
  VersionApi,
} from "@kubernetes/client-node";

export interface WaitOptions {
  timeoutMs: number;
  intervalMs?: number;
}

/** Polls `probe` until it returns a value other than undefined/false, or throws on timeout. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  { timeoutMs, intervalMs = 500 }: WaitOptions,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const cause = lastError instanceof Error ? ` (last error: ${lastError.message})` : "";
      throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}${cause}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export function isPodReady(pod: V1Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
}

export function isNodeReady(node: V1Node): boolean {
  return node.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
}

/** The Kubernetes API as the suites use it: typed clients plus the few compound operations they share. */
export class Kube {
  readonly config: KubeConfig;
  readonly core: CoreV1Api;
  readonly apps: AppsV1Api;
  readonly storage: StorageV1Api;
  readonly networking: NetworkingV1Api;
  readonly discovery: DiscoveryV1Api;

  constructor(config: KubeConfig) {
    this.config = config;
    this.core = config.makeApiClient(CoreV1Api);
    this.apps = config.makeApiClient(AppsV1Api);
    this.storage = config.makeApiClient(StorageV1Api);
    this.networking = config.makeApiClient(NetworkingV1Api);
    this.discovery = config.makeApiClient(DiscoveryV1Api);
  }

  /** The API server's version (gitVersion, e.g. v1.35.4). */
  async versionOfServer(): Promise<string> {
    return (await this.config.makeApiClient(VersionApi).getCode()).gitVersion;
  }

  /** Every API group/version the server serves (`v1`, `apps/v1`, ...), as `kubectl api-versions` lists them. */
  async apiGroupVersions(): Promise<string[]> {
    const core = await this.config.makeApiClient(CoreApi).getAPIVersions();
    const groups = await this.config.makeApiClient(ApisApi).getAPIVersions();
    return [...core.versions, ...groups.groups.flatMap((g) => g.versions.map((v) => v.groupVersion))].sort();
  }

  async createNamespace(name: string, labels: Record<string, string> = {}): Promise<void> {
    await this.core.createNamespace({
      body: { metadata: { name, labels: { "org.valkey-harness.managed": "true", ...labels } } },
    });
  }

  async namespaceExists(name: string): Promise<boolean> {
    try {
      await this.core.readNamespace({ name });
      return true;
    } catch (error) {
      if (statusCode(error) === 404) return false;
      throw error;
    }
  }

  /** Deletes a namespace and waits until it is gone (its PVCs and volumes with it). */
  async deleteNamespace(name: string, timeoutMs = 180_000): Promise<void> {
    try {
      await this.core.deleteNamespace({ name });
    } catch (error) {
      if (statusCode(error) === 404) return;
      throw error;
    }
    await waitFor(
      `namespace ${name} to be deleted`,
      async () => {
        try {
          await this.core.readNamespace({ name });
          return false;
        } catch (error) {
          return statusCode(error) === 404;
        }
      },
      { timeoutMs, intervalMs: 1000 },
    );
  }

  async pods(namespace: string, labelSelector?: string): Promise<V1Pod[]> {
    const list = await this.core.listNamespacedPod({ namespace, labelSelector });
    return list.items.sort((a, b) => (a.metadata?.name ?? "").localeCompare(b.metadata?.name ?? ""));
  }

  /** Waits until `count` pods match the selector and all are Ready. */
  async waitForReadyPods(namespace: string, labelSelector: string, count: number, timeoutMs: number): Promise<V1Pod[]> {
    return waitFor(
      `${count} Ready pod(s) matching ${labelSelector} in ${namespace}`,
      async () => {
        const pods = await this.pods(namespace, labelSelector);
        const live = pods.filter((pod) => !pod.metadata?.deletionTimestamp);
        return live.length === count && live.every(isPodReady) ? live : undefined;
      },
      { timeoutMs, intervalMs: 1000 },
    );
  }

  /** Runs a command in a container and collects its output and exit code. */
  async exec(namespace: string, pod: string, container: string, command: string[]): Promise<ExecResult> {
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    stdout.on("data", (chunk: Buffer) => out.push(chunk));
    stderr.on("data", (chunk: Buffer) => err.push(chunk));
    const status = await new Promise<V1Status>((resolve, reject) => {
      new Exec(this.config)
        .exec(namespace, pod, container, command, stdout, stderr, null, false, resolve)
        .then((socket) => socket.on("error", reject))
        .catch(reject);
    });
    const exitCode =
      status.status === "Success"
        ? 0
        : Number(status.details?.causes?.find((cause) => cause.reason === "ExitCode")?.message ?? 1);
    return { stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8"), exitCode };
  }

  /** GET through the API server's pod proxy, e.g. an exporter's /metrics. */
  proxyGet(namespace: string, pod: string, port: number, path: string): Promise<string> {
    return this.core.connectGetNamespacedPodProxyWithPath({
      namespace,
      name: `${pod}:${port}`,
      path: path.replace(/^\//, ""),
    });
  }

  /**
   * Creates a NodePort Service in front of the selected pods on the first free port of
   * `nodePorts` (the API server arbitrates, so concurrent suites never collide).
   */
  async createNodePortService(
    namespace: string,
    name: string,
    selector: Record<string, string>,
    targetPort: number,
    nodePorts: readonly number[],
  ): Promise<number> {
    for (const nodePort of nodePorts) {
      const body: V1Service = {
        metadata: { name, labels: { "org.valkey-harness.managed": "true" } },
        spec: { type: "NodePort", selector, ports: [{ port: targetPort, targetPort, nodePort, protocol: "TCP" }] },
      };
      try {
        await this.core.createNamespacedService({ namespace, body });
        return nodePort;
      } catch (error) {
        if (statusCode(error) === 422 && /already allocated|provided port/i.test(String(error))) continue;
        throw error;
      }
    }
    throw new Error(
      `every host-published NodePort (${nodePorts[0]}-${nodePorts.at(-1)}) is taken; delete unused Services`,
    );
  }

  /**
   * What an engineer needs when a check fails: pods and their container states, the
   * namespace's events, and the last log lines of every pod that is not Ready.
   */
  async diagnostics(namespace: string, logLines = 40): Promise<string> {
    const sections: string[] = [];
    try {
      const pods = await this.pods(namespace);
      sections.push(
        `--- pods in ${namespace}`,
        ...pods.map((pod) => {
          const states = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])]
            .map((s) => {
              const state = s.state?.running
                ? "running"
                : s.state?.waiting
                  ? `waiting:${s.state.waiting.reason}`
                  : `terminated:${s.state?.terminated?.reason}(${s.state?.terminated?.exitCode})`;
              return `${s.name}=${state} ready=${s.ready} restarts=${s.restartCount}`;
            })
            .join(", ");
          return `${pod.metadata?.name} phase=${pod.status?.phase} node=${pod.spec?.nodeName ?? "-"} ready=${isPodReady(pod)} [${states}]`;
        }),
      );
      const events = await this.core.listNamespacedEvent({ namespace });
      sections.push(
        `--- events in ${namespace}`,
        ...events.items
          .sort((a, b) => String(a.lastTimestamp ?? a.eventTime).localeCompare(String(b.lastTimestamp ?? b.eventTime)))
          .slice(-40)
          .map((e) => `${e.type} ${e.involvedObject.kind}/${e.involvedObject.name} ${e.reason}: ${e.message}`),
      );
      for (const pod of pods.filter((p) => !isPodReady(p))) {
        const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
        const started = statuses.filter((s) => s.state?.running || s.state?.terminated || s.restartCount > 0);
        for (const container of started) {
          const name = pod.metadata?.name ?? "";
          const text = await this.core
            .readNamespacedPodLog({
              namespace,
              name,
              container: container.name,
              tailLines: logLines,
              previous: !!container.state?.waiting,
            })
            .catch((error: unknown) => `(no log: ${error instanceof Error ? error.message.split("\n")[0] : error})`);
          sections.push(`--- last ${logLines} log lines of ${name}/${container.name}`, String(text).trimEnd());
        }
      }
    } catch (error) {
      sections.push(`(diagnostics incomplete: ${error instanceof Error ? error.message : error})`);
    }
    return sections.join("\n");
  }
}

/** The HTTP status of a client-node ApiException, if any. */
export function statusCode(error: unknown): number | undefined {
  return typeof error === "object" && error !== null && "code" in error
    ? Number((error as { code: unknown }).code)
    : undefined;
}
