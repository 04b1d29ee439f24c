import { writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import { describe, expect } from "vitest";
import { type LoadSettings, preload, runLoad } from "../../src/bench/load.ts";
import { benchmarkFromHost, benchmarkInCluster } from "../../src/bench/reference.ts";
import { wrapperVersion } from "../../src/chart/wrapper.ts";
import { waitFor } from "../../src/kube/index.ts";
import {
  BENCH_SCHEMA,
  type BenchReport,
  benchHtml,
  benchMarkdown,
  median,
  type PathResult,
} from "../../src/report/bench.ts";
import { REPORTS, writeReport } from "../../src/report/index.ts";
import { rawPing } from "../../src/valkey/index.ts";
import { clusterUnavailable, test } from "../support/fixtures.ts";
import { useRelease } from "../support/release.ts";

const env = process.env.VALKEY_BENCH_ENV ?? "dev-01";
const runs = Number(process.env.VALKEY_BENCH_RUNS ?? 3);
/** Generator threads (the machine has 2 cores, shared with the cluster). */
const threads = 2;

/** The cache workload: GETs over a preloaded key set, equal settings for every path. */
const settings: LoadSettings = {
  connections: 8,
  pipeline: 16,
  keySpace: 10_000,
  distribution: "uniform",
  valueBytes: 256,
  readRatio: 1,
  maxOperations: 200_000,
  maxSeconds: 30,
};

describe.skipIf(!!clusterUnavailable || !process.env.VALKEY_BENCH)(`benchmark of ${env}`, () => {
  const release = useRelease(env);

  test("measures the cache workload through the generator, valkey-benchmark on the same path, and in the cluster", async ({
    cluster,
    helm,
  }) => {
    const r = release();
    const image = cluster.info.images?.valkey;
    if (!image) throw new Error("the benchmark needs the harness's own Valkey image (a container cluster)");
    // The load path: a NodePort published on 127.0.0.1, not a port-forward tunnel.
    const selector =
      (await cluster.kube.core.readNamespacedService({ name: r.fullname, namespace: r.namespace })).spec?.selector ??
      {};
    const address = await cluster.exposeToHost(r.namespace, "bench-primary", selector, 6379);
    // The published port accepts at once; the Service's rules take a moment to follow.
    await waitFor("the NodePort to reach Valkey", () => rawPing(address), { timeoutMs: 60_000, intervalMs: 250 });
    await preload(address, r.clientCredentials, settings);

    const generator: PathResult["runs"] = [];
    const sameHostPath: PathResult["runs"] = [];
    const inCluster: PathResult["runs"] = [];
    for (let i = 1; i <= runs; i++) {
      const load = await runLoad(address, r.clientCredentials, settings, threads);
      expect(load.errors, "errors during the load").toEqual({});
      generator.push({
        opsPerSecond: load.opsPerSecond,
        p50Millis: load.latencyMicros.p50 / 1000,
        p99Millis: load.latencyMicros.p99 / 1000,
      });
      const host = await benchmarkFromHost(image, settings, address.port, "get");
      sameHostPath.push({
        opsPerSecond: host.opsPerSecond,
        p50Millis: host.latencyMillis.p50,
        p99Millis: host.latencyMillis.p99,
      });
      const job = await benchmarkInCluster(cluster, r.namespace, image, r.fullname, settings, "get");
      inCluster.push({
        opsPerSecond: job.opsPerSecond,
        p50Millis: job.latencyMillis.p50,
        p99Millis: job.latencyMillis.p99,
      });
      console.log(
        `[bench ${env}] run ${i}/${runs}: generator ${load.opsPerSecond} ops/s, valkey-benchmark (host) ${host.opsPerSecond}, valkey-benchmark (Job) ${job.opsPerSecond}`,
      );
    }
    const path = (name: string, description: string, samples: PathResult["runs"]): PathResult => ({
      path: name,
      description,
      opsPerSecondMedian: Math.round(median(samples.map((s) => s.opsPerSecond))),
      p50MillisMedian: Number(median(samples.map((s) => s.p50Millis)).toFixed(3)),
      p99MillisMedian: Number(median(samples.map((s) => s.p99Millis)).toFixed(3)),
      runs: samples,
    });
    const paths = [
      path("generator-host", "ioredis generator, host -> NodePort on 127.0.0.1", generator),
      path("valkey-benchmark-host", "valkey-benchmark, host -> NodePort on 127.0.0.1", sameHostPath),
      path("valkey-benchmark-in-cluster", "valkey-benchmark as a Job -> primary Service", inCluster),
    ];
    const [gen, host, job] = paths as [PathResult, PathResult, PathResult];
    const report: BenchReport = {
      schema: BENCH_SCHEMA,
      createdAt: new Date().toISOString(),
      environment: env,
      chart: { wrapper: wrapperVersion(), upstream: r.upstreamVersion, helm: helm.version },
      images: { valkey: image, exporter: cluster.info.images?.exporter ?? "", node: cluster.info.nodeImage ?? "" },
      versions: cluster.info.images?.versions ?? {},
      machine: {
        cpus: cpus().length,
        cpuModel: cpus()[0]?.model ?? "?",
        memoryGiB: Math.round(totalmem() / 2 ** 30),
        node: process.version,
        platform: process.platform,
      },
      workload: {
        name: "cache (GET over a preloaded key set)",
        settings: { ...settings, runs, adaptations: r.adaptations },
      },
      paths,
      ratios: {
        generatorVsBenchmarkSamePath: Number((gen.opsPerSecondMedian / host.opsPerSecondMedian).toFixed(2)),
        hostPathVsInCluster: Number((host.opsPerSecondMedian / job.opsPerSecondMedian).toFixed(2)),
      },
    };
    const written = writeReport(`bench-${env}`, report, benchMarkdown(report));
    writeFileSync(join(REPORTS, `bench-${env}.html`), benchHtml(report));
    console.log(`[bench ${env}] ${JSON.stringify(report.ratios)} -> ${written.json}`);
    expect(gen.opsPerSecondMedian).toBeGreaterThan(0);
  });
});
