import { writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import { describe, expect } from "vitest";
import { runWorkload } from "../../src/bench/runner.ts";
import type { BenchContext } from "../../src/bench/workload.ts";
import { benchWorkloads } from "../../src/bench/workloads.ts";
import type { Release } from "../../src/chart/release.ts";
import { wrapperVersion } from "../../src/chart/wrapper.ts";
import type { Cluster, HostAccess } from "../../src/cluster/index.ts";
import { readProfile } from "../../src/durability/profiles.ts";
import { profileFile } from "../../src/environments.ts";
import { waitFor } from "../../src/kube/index.ts";
import {
  assembleBenchReport,
  benchHtml,
  benchMarkdown,
  expectedCharts,
  type PathResult,
} from "../../src/report/bench.ts";
import { checkReportRenders, findChromium } from "../../src/report/browser-check.ts";
import { REPORTS, writeReport } from "../../src/report/index.ts";
import { isCI, setting } from "../../src/settings.ts";
import { rawPing } from "../../src/valkey/index.ts";
import { clusterUnavailable, test } from "../support/fixtures.ts";

const env = setting("VALKEY_BENCH_ENV");
const only = setting("VALKEY_BENCH_WORKLOADS");
const generators = setting("VALKEY_BENCH_GENERATORS");
/** A report of some workloads only is named for them, so that it never stands in for the whole one. */
const reportName = `bench-${env}${only ? `-${only.join("+")}` : ""}`;

describe.skipIf(!!clusterUnavailable || !setting("VALKEY_BENCH"))(`benchmark of ${env}`, () => {
  test.override({ env });

  test("loads the release with every registered workload on every path, and writes the reports", async ({
    cluster,
    helm,
    release,
    releases,
    skip,
  }) => {
    // A cluster of your own (no host ports): load from inside it only, control through a port-forward.
    const ownCluster = !cluster.hostAccess;
    if (ownCluster && generators.length > 0 && !setting("VALKEY_REGISTRY"))
      throw new Error(
        "a cluster of your own is benchmarked from inside it: set VALKEY_REGISTRY to a registry its nodes pull from (the generator image is pushed there)",
      );
    const image = cluster.info.images?.valkey ?? (ownCluster ? await serverImage(cluster, release) : undefined);
    if (!image) skip("the benchmark needs the Valkey image of the release (valkey-benchmark comes from it)");
    const workloads = benchWorkloads({
      openLoopRate: setting("VALKEY_BENCH_RATE"),
      env,
      only,
      generators,
      inClusterOnly: ownCluster,
    });
    const chromium = await findChromium();
    if (!chromium && isCI()) {
      throw new Error("no headless Chromium to check the HTML report: apt-get install chromium-headless-shell");
    }
    // The load path: a NodePort published on 127.0.0.1, not a port-forward tunnel. On a
    // cluster of your own the port-forward carries only the preload and INFO; the load
    // comes from inside.
    const selector =
      (await cluster.kube.core.readNamespacedService({ name: release.fullname, namespace: release.namespace })).spec
        ?.selector ?? {};
    const address = ownCluster
      ? await release.endpoint("primary")
      : await (cluster.hostAccess as HostAccess).exposeToHost(release.namespace, "bench-primary", selector, 6379);
    // The published port accepts at once; the Service's rules take a moment to follow.
    await waitFor("the primary to answer", () => rawPing(address), { timeoutMs: 60_000, intervalMs: 250 });
    const hostAccess = cluster.hostAccess as HostAccess;
    const profiles = new Map<string, ReturnType<NonNullable<BenchContext["profile"]>>>();
    const context: BenchContext = {
      cluster,
      release,
      address,
      credentials: release.clientCredentials,
      image: image as string,
      runs: setting("VALKEY_BENCH_RUNS"),
      log: (line) => console.log(line),
      // A release of the environment per persistence profile, reached through a NodePort of its own.
      profile: (name) => {
        let target = profiles.get(name);
        if (!target) {
          target = (async () => {
            const profile = readProfile(name);
            const other = await releases.get({
              env,
              instance: `bench-${name}`.slice(0, 24),
              extraValuesFiles: [profile.valuesFile],
            });
            const selector =
              (await cluster.kube.core.readNamespacedService({ name: other.fullname, namespace: other.namespace })).spec
                ?.selector ?? {};
            const endpoint = await hostAccess.exposeToHost(
              other.namespace,
              `bench-${name}`.slice(0, 50),
              selector,
              6379,
            );
            await waitFor(`the NodePort of ${name} to reach Valkey`, () => rawPing(endpoint), {
              timeoutMs: 60_000,
              intervalMs: 250,
            });
            return { release: other, address: endpoint, credentials: other.clientCredentials };
          })();
          profiles.set(name, target);
        }
        return target;
      },
    };
    let tlsTarget: ReturnType<NonNullable<BenchContext["tls"]>> | undefined;
    context.tls = () => {
      tlsTarget ??= (async () => {
        const other = await releases.get({ env, instance: "bench-tls", profiles: [profileFile("tls")] });
        const selector =
          (await cluster.kube.core.readNamespacedService({ name: other.fullname, namespace: other.namespace })).spec
            ?.selector ?? {};
        const endpoint = await hostAccess.exposeToHost(other.namespace, "bench-tls", selector, 6379);
        await waitFor(
          "the NodePort of the TLS release to answer a TLS PING",
          () => rawPing(endpoint, 3_000, other.clientTls),
          {
            timeoutMs: 60_000,
            intervalMs: 250,
          },
        );
        return { release: other, address: endpoint, credentials: other.clientCredentials };
      })();
      return tlsTarget;
    };
    const paths: PathResult[] = [];
    for (const workload of workloads) paths.push(...(await runWorkload(context, workload)));

    const report = assembleBenchReport(
      {
        createdAt: new Date().toISOString(),
        environment: env,
        chart: { wrapper: wrapperVersion(), upstream: release.upstreamVersion, helm: helm.version },
        images: {
          valkey: image as string,
          exporter: cluster.info.images?.exporter ?? "",
          node: cluster.info.nodeImage ?? "",
        },
        versions: cluster.info.images?.versions ?? {},
        machine: {
          cpus: cpus().length,
          cpuModel: cpus()[0]?.model ?? "?",
          memoryGiB: Math.round(totalmem() / 2 ** 30),
          node: process.version,
          platform: process.platform,
        },
        loadPath: ownCluster
          ? `from inside the cluster only (a cluster of your own): valkey-benchmark as a Job and lean-cluster-N, N pods of the harness's generator image spread over the nodes (N = ${generators.join(", ")}), against the primary Service; this machine only preloads the keys and reads INFO, through a port-forward`
          : `host -> 127.0.0.1:${address.port} (NodePort published by the server node's container) -> kube-proxy -> the primary pod; the in-cluster reference runs as a Job against the primary Service${generators.length > 0 ? `; lean-cluster-N: N pods of the harness's generator image, spread over the nodes, against the primary Service (N = ${generators.join(", ")})` : ""}`,
      },
      workloads,
      paths,
    );
    // A cluster of your own gets a report of its own name: it never stands in for the whole benchmark.
    const name = ownCluster ? `${reportName}-own-cluster` : reportName;
    const written = writeReport(name, report, benchMarkdown(report));
    const html = join(REPORTS, `${name}.html`);
    writeFileSync(html, benchHtml(report));
    console.log(`[bench] ${report.ratios.map((x) => `${x.name}=${x.value}`).join(" ")} -> ${written.json}, ${html}`);
    if (chromium) {
      // Throughput and latency percentiles per workload, and a timeline per disruption run.
      const rendered = await checkReportRenders(chromium, html, expectedCharts(report));
      console.log(
        `[bench] ${html} renders in ${chromium}: ${rendered.charts} charts; screenshot ${rendered.screenshot}`,
      );
    } else {
      console.warn(
        "[bench] no headless Chromium: the HTML report was not checked (apt-get install chromium-headless-shell)",
      );
    }
    for (const path of paths) expect(path.opsPerSecondMedian, path.path).toBeGreaterThan(0);
  });
});

/** The image of the release's server container, as its pod 0 runs it. */
async function serverImage(cluster: Cluster, release: Release): Promise<string | undefined> {
  const pod = await cluster.kube.core.readNamespacedPod({ namespace: release.namespace, name: release.podName(0) });
  const containers = pod.spec?.containers ?? [];
  return (containers.find((c) => c.name === "valkey") ?? containers[0])?.image;
}
