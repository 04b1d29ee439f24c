import { test as base, inject } from "vitest";
import { Helm } from "../../src/chart/helm.ts";
import { type InstallOptions, installRelease, type Release } from "../../src/chart/release.ts";
import { reportCleanupFailure } from "../../src/cleanup-log.ts";
import { Cluster, type ClusterInfo } from "../../src/cluster/index.ts";
import { platformContract } from "../../src/contract.ts";
import { SharedNamespaces } from "../../src/kube/namespaces.ts";
import { enforcingLabels } from "../../src/kube/pod-security.ts";
import { Monitoring } from "../../src/prometheus/monitoring.ts";

const provided = inject("cluster");

/** Why the integration suites cannot run here, or undefined when they can. */
export const clusterUnavailable: string | undefined =
  provided === undefined
    ? "no cluster was provided (run the suites through vitest with the repository's vitest.config.ts)"
    : "unavailable" in provided
      ? provided.unavailable
      : undefined;

/** The agents whose volumes can lose power with them (undefined on clusters without power-loss disks). */
export const powerLossDisksProvided =
  provided !== undefined && !("unavailable" in provided) ? provided.powerLossDisks : undefined;

if (clusterUnavailable)
  console.warn(`SKIPPED: the integration suites need a Kubernetes cluster: ${clusterUnavailable}`);

/**
 * What a suite asks to have installed: an environment, and optionally more (a mutated chart,
 * extra values). Requests that differ only in `instance` get releases of their own, so
 * scenarios that disturb a release can run side by side.
 */
export type ReleaseRequest = Omit<InstallOptions, "namespace" | "log"> & {
  env: string;
  instance?: string;
  /**
   * Install into a namespace that enforces no Pod Security level, as on a cluster whose
   * namespaces nobody labelled (default: the level the platform's contract promises).
   */
  unenforcedNamespace?: boolean;
};

/**
 * The releases a test file installed, each in a namespace of its own (enforcing the Pod
 * Security level the platform's contract promises), memoized by what was
 * asked for: describes of different environments install concurrently, the tests of one
 * environment share its release. Everything is uninstalled (volumes and namespace too)
 * when the file ends, or earlier through `uninstall`.
 */
export class Releases {
  private readonly cluster: Cluster;
  private readonly helm: Helm;
  private readonly installs = new Map<string, { namespace: string; release: Promise<Release> }>();

  constructor(cluster: Cluster, helm: Helm) {
    this.cluster = cluster;
    this.helm = helm;
  }

  /** The release for a request, installed on first use. An install that failed fails every later use, briefly. */
  get(request: ReleaseRequest): Promise<Release> {
    const key = JSON.stringify(request);
    let entry = this.installs.get(key);
    if (!entry) {
      const namespace = `${request.env}-${request.instance ? `${request.instance}-` : ""}${Math.random().toString(36).slice(2, 7)}`;
      let failed = false;
      const { instance: _, unenforcedNamespace, ...options } = request;
      const level = platformContract().terms[request.env]?.podSecurity;
      const release = (async () => {
        await this.cluster.kube.createNamespace(namespace, level && !unenforcedNamespace ? enforcingLabels(level) : {});
        return installRelease(this.helm, this.cluster, { ...options, namespace, log: (line) => console.log(line) });
      })().catch((error: Error) => {
        if (failed) throw new Error(`${request.env} did not install: ${error.message.split("\n")[0]}`);
        failed = true;
        throw error;
      });
      entry = { namespace, release };
      this.installs.set(key, entry);
    }
    return entry.release.catch((error: Error) => {
      throw new Error(
        `${request.env} did not install (see the first failure for pods, events and logs): ${error.message.split("\n")[0]}`,
        {
          cause: error,
        },
      );
    });
  }

  /** Uninstalls a request's release and deletes its namespace (a no-op if it was never installed). */
  async uninstall(request: ReleaseRequest): Promise<void> {
    const key = JSON.stringify(request);
    const entry = this.installs.get(key);
    if (!entry) return;
    this.installs.delete(key);
    const release = await entry.release.catch(() => undefined);
    const problems: string[] = [];
    await release?.uninstall().catch((error: Error) => problems.push(`uninstall: ${error.message}`));
    await this.cluster.kube
      .deleteNamespace(entry.namespace)
      .catch((error: Error) => problems.push(`namespace: ${error.message}`));
    if (problems.length > 0)
      throw new Error(`cleanup of ${request.env} in ${entry.namespace} failed: ${problems.join("; ")}`);
  }

  async uninstallAll(): Promise<void> {
    const results = await Promise.allSettled(
      [...this.installs.keys()].map((key) => this.uninstall(JSON.parse(key) as ReleaseRequest)),
    );
    const failures = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    for (const failure of failures) reportCleanupFailure(String(failure.reason?.message ?? failure.reason));
    if (failures.length > 0) throw failures[0]?.reason;
  }
}

/**
 * Fixtures of the integration suites. `cluster`, `helm` and `contract` (the platform's
 * contract, validated with every environment file against it) are shared by the worker;
 * `namespace` is a namespace of the test file's own; `release` is the environment `env`
 * installed (override `env`, and `install` for more, per describe with `test.override`).
 * A failing test that used a release prints its pods, events, logs and values.
 */
export const test = base
  // biome-ignore lint/correctness/noEmptyPattern: vitest reads a fixture's dependencies from this pattern
  .extend("cluster", { scope: "worker" }, async ({}) => Cluster.connect(provided as ClusterInfo))
  // biome-ignore lint/correctness/noEmptyPattern: as above
  .extend("helm", { scope: "worker" }, async ({}) => {
    const helm = await Helm.fromSettings();
    console.log(`[helm] ${helm}`);
    return helm;
  })
  // biome-ignore lint/correctness/noEmptyPattern: as above
  .extend("contract", { scope: "worker" }, async ({}) => platformContract())
  .extend("namespace", { scope: "file" }, async ({ cluster }, { onCleanup }) => {
    const name = `t-${process.pid}-${Math.random().toString(36).slice(2, 7)}`;
    await cluster.kube.createNamespace(name);
    onCleanup(() => cluster.kube.deleteNamespace(name));
    return name;
  })
  .extend("namespaces", { scope: "file" }, async ({ cluster }) => new SharedNamespaces(cluster.kube))
  .extend("monitoring", { scope: "file" }, async ({ cluster, namespaces }, { onCleanup }) => {
    const monitoring = new Monitoring(cluster, namespaces);
    onCleanup(() => monitoring.stop());
    return monitoring;
  })
  .extend("releases", { scope: "file" }, async ({ cluster, helm }, { onCleanup }) => {
    const releases = new Releases(cluster, helm);
    onCleanup(() => releases.uninstallAll());
    return releases;
  })
  .extend("env", "dev-01")
  .extend("install", {} as Omit<ReleaseRequest, "env">)
  .extend("release", async ({ env, install, releases, onTestFailed }) => {
    const release = await releases.get({ ...install, env });
    onTestFailed(async () => console.error(await release.diagnostics()));
    return release;
  });
