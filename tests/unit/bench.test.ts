import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";
import { type LoadSettings, validateLoadSettings } from "../../src/bench/load.ts";
import { parseBenchmarkCsv } from "../../src/bench/reference.ts";
import { run } from "../../src/process.ts";
import { BENCH_SCHEMA, type BenchReport, benchHtml, compareReports } from "../../src/report/bench.ts";

function report(opsPerSecond: number, p99: number): BenchReport {
  return {
    schema: BENCH_SCHEMA,
    createdAt: "2026-11-27T00:00:00Z",
    environment: "dev-01",
    chart: { wrapper: "1.0.0", upstream: "0.9.0", helm: "v4.1.4" },
    images: { valkey: "localhost/valkey:9.1.2-debian-sid" },
    versions: { kubernetes: "v1.34.4" },
    machine: { cpus: 2, cpuModel: "x", memoryGiB: 24, node: "v24", platform: "linux" },
    workload: { name: "cache", settings: {} },
    paths: [
      {
        path: "generator-host",
        description: "generator",
        opsPerSecondMedian: opsPerSecond,
        p50MillisMedian: 1,
        p99MillisMedian: p99,
        runs: [],
      },
    ],
    ratios: { generatorVsBenchmarkSamePath: 1, hostPathVsInCluster: 1 },
  };
}

const thresholds = { maxThroughputDrop: 0.15, maxP99Rise: 0.5 };

describe("benchmark report comparison", () => {
  test("flags a 30% throughput regression and passes an unchanged report", () => {
    expect(compareReports(report(10_000, 2), report(10_000, 2), thresholds)).toEqual([]);
    expect(compareReports(report(10_000, 2), report(7_000, 2), thresholds)).toEqual([
      "generator-host: throughput 10000 -> 7000 ops/s (-30.0 %, allowed 15 %)",
    ]);
  });

  test("the compare command exits 1 on the regression and 0 otherwise", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bench-compare-"));
    const write = (name: string, r: BenchReport) => {
      writeFileSync(join(dir, name), JSON.stringify(r));
      return join(dir, name);
    };
    const cli = fileURLToPath(new URL("../../src/report/compare.ts", import.meta.url));
    const baseline = write("baseline.json", report(10_000, 2));
    const same = await run(process.execPath, [cli, baseline, write("same.json", report(10_000, 2))]);
    expect(same.code, same.stderr).toBe(0);
    const worse = await run(process.execPath, [cli, baseline, write("worse.json", report(7_000, 2))]);
    expect(worse.code).toBe(1);
    expect(worse.stderr).toContain("throughput 10000 -> 7000");
  });

  test("renders a self-contained HTML page", () => {
    const html = benchHtml(report(10_000, 2));
    expect(html).toContain("<svg");
    expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org)/);
  });
});

describe("load settings and valkey-benchmark output", () => {
  const good: LoadSettings = {
    connections: 8,
    pipeline: 16,
    keySpace: 100,
    distribution: "uniform",
    valueBytes: 10,
    readRatio: 1,
    maxOperations: 1000,
    maxSeconds: 5,
  };
  test("refuses bad settings before any load, naming the field", () => {
    expect(() => validateLoadSettings(good)).not.toThrow();
    expect(() => validateLoadSettings({ ...good, connections: 0 })).toThrow(/connections=0 is not valid/);
    expect(() => validateLoadSettings({ ...good, readRatio: 2 })).toThrow(/readRatio=2 is not valid/);
    expect(() => validateLoadSettings({ ...good, maxSeconds: 0 })).toThrow(/maxSeconds=0 is not valid/);
  });

  test("parses valkey-benchmark's CSV", () => {
    const csv =
      '"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"\n"GET","52356.02","1.123","0.200","1.015","1.871","2.511","9.100"\n';
    expect(parseBenchmarkCsv(csv)).toEqual({
      command: "GET",
      opsPerSecond: 52356.02,
      latencyMillis: { avg: 1.123, p50: 1.015, p95: 1.871, p99: 2.511, max: 9.1 },
    });
  });
});
