import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";
import { benchKey } from "../../src/bench/accounting.ts";
import { type LoadSettings, validateLoadSettings } from "../../src/bench/load.ts";
import { validateFanOutSettings } from "../../src/bench/realtime.ts";
import { parseBenchmarkOutput, referenceArgs } from "../../src/bench/reference.ts";
import { benchWorkloads } from "../../src/bench/workloads.ts";
import { scratchDir } from "../../src/files.ts";
import { run } from "../../src/process.ts";
import {
  BASELINE_REPORTS,
  BENCH_SCHEMA,
  type BenchReport,
  benchHtml,
  benchMarkdown,
  comparePaths,
  compareReports,
  type PathResult,
  readBenchReport,
  settingsRows,
  summarisePath,
  versionRows,
  workText,
} from "../../src/report/bench.ts";

/** Three runs around `opsPerSecond` and `p99`, `spread` apart from smallest to largest (a share of the median). */
function runsAround(opsPerSecond: number, p99: number, spread = 0.04) {
  return [-spread / 2, 0, spread / 2].map((offset) => ({
    opsPerSecond: Math.round(opsPerSecond * (1 + offset)),
    p50Millis: 1,
    p90Millis: 1.5,
    p99Millis: p99,
    p999Millis: p99 * 2,
  }));
}

function report(opsPerSecond: number, p99: number, spread = 0.04): BenchReport {
  return {
    schema: BENCH_SCHEMA,
    createdAt: "2026-11-27T00:00:00Z",
    environment: "dev-01",
    chart: { wrapper: "1.0.0", upstream: "0.9.0", helm: "v4.1.4" },
    images: { valkey: "localhost/valkey:9.1.2-debian-sid" },
    versions: { kubernetes: "v1.34.4" },
    machine: { cpus: 2, cpuModel: "x", memoryGiB: 24, node: "v24", platform: "linux" },
    loadPath: "host -> NodePort",
    workloads: [{ id: "cache-p16", name: "cache", latency: "round trip", settings: {} }],
    paths: [
      summarisePath("cache-p16", "generator-host", "generator", "ops/s", runsAround(opsPerSecond, p99, spread)),
      summarisePath("cache-p16", "valkey-benchmark-host", "valkey-benchmark", "ops/s", runsAround(20_000, 1)),
    ],
    ratios: [{ name: "generator-vs-valkey-benchmark-p16", value: opsPerSecond / 20_000, description: "ratio" }],
  };
}

const thresholds = { maxThroughputDrop: 0.15, maxP99Rise: 0.5 };

describe("benchmark report comparison", () => {
  test("flags a 30% throughput regression and passes an unchanged report", () => {
    expect(compareReports(report(10_000, 2), report(10_000, 2), thresholds)).toEqual([]);
    expect(compareReports(report(10_000, 2), report(7_000, 2), thresholds)).toEqual([
      "cache-p16/generator-host: throughput 10000 -> 7000 ops/s (-30.0 %, allowed 15.0 %)",
    ]);
  });

  test("allows a change as large as the run-to-run spread the baseline recorded, at most twice the threshold", () => {
    // Baseline runs 25 % apart: a 20 % drop is within what the same code varied by.
    const noisy = comparePaths(report(10_000, 2, 0.25), report(8_000, 2), thresholds)[0];
    expect(noisy?.verdict).toBe("ok");
    expect(noisy?.throughput.allowed).toBeCloseTo(0.25, 2);
    // Runs 4 % apart: the threshold (15 %) is the allowance and 30 % is a regression.
    expect(comparePaths(report(10_000, 2), report(7_000, 2), thresholds)[0]?.verdict).toBe("regression");
    // A noisy current report does not widen its own allowance.
    expect(comparePaths(report(10_000, 2), report(7_000, 2, 0.6), thresholds)[0]?.verdict).toBe("regression");
    // A baseline whose runs spread 90 % allows at most twice the threshold (30 %): a 40 % drop fails.
    const capped = comparePaths(report(10_000, 2, 0.9), report(6_000, 2), thresholds)[0];
    expect(capped?.throughput.allowed).toBeCloseTo(0.3, 5);
    expect(capped?.verdict).toBe("regression");
  });

  test("errors or misses where the baseline had none are a regression: not the same work", () => {
    const current = report(10_000, 2);
    (current.paths[0] as PathResult).errors = { ETIMEDOUT: 3 };
    (current.paths[0] as PathResult).misses = 12;
    expect(compareReports(report(10_000, 2), current, thresholds)).toEqual([
      'cache-p16/generator-host: errors 0 -> 3 ({"ETIMEDOUT":3}): not the same work',
      "cache-p16/generator-host: misses 0 -> 12: not the same work",
    ]);
  });

  test("a disruption path with one run (the committed baseline's rolling restart, its p99 nearly tripled, as a fresh run once measured: 130 -> 374 ms) is shown, not judged", async () => {
    const baselineFile = join(BASELINE_REPORTS, "bench-dev-01.json");
    const current = readBenchReport(baselineFile);
    const rolling = current.paths.find((p) => p.path === "cache-rolling-restart/generator-host") as PathResult;
    const generator = current.paths.find((p) => p.path === "cache-p16/generator-host") as PathResult;
    expect(rolling.runs).toHaveLength(1);
    const before = rolling.p99MillisMedian;
    rolling.p99MillisMedian = Math.round(before * 2.9);
    const dir = scratchDir("bench-compare-");
    writeFileSync(join(dir, "current.json"), JSON.stringify(current));
    const cli = fileURLToPath(new URL("../../src/cli/bench-compare.ts", import.meta.url));
    const result = await run(process.execPath, [cli, baselineFile, join(dir, "current.json")]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`| cache-rolling-restart/generator-host |`);
    expect(result.stdout).toMatch(
      new RegExp(`\\| ${before} -> ${rolling.p99MillisMedian} \\| .* \\| NOT JUDGED: one run recorded`),
    );
    const ops = generator.opsPerSecondMedian;
    expect(result.stdout).toMatch(
      new RegExp(`\\| cache-p16/generator-host \\| ${ops} -> ${ops} ops/s \\| \\+0\\.0 % \\(-\\d+\\.\\d %\\) \\|`),
    );
  });

  test("the compare command exits 1 on the regression and 0 otherwise", async () => {
    const dir = scratchDir("bench-compare-");
    const write = (name: string, r: BenchReport) => {
      writeFileSync(join(dir, name), JSON.stringify(r));
      return join(dir, name);
    };
    const cli = fileURLToPath(new URL("../../src/cli/bench-compare.ts", import.meta.url));
    const baseline = write("baseline.json", report(10_000, 2));
    const same = await run(process.execPath, [cli, baseline, write("same.json", report(10_000, 2))]);
    expect(same.code, same.stderr).toBe(0);
    const worse = await run(process.execPath, [cli, baseline, write("worse.json", report(7_000, 2))]);
    expect(worse.code).toBe(1);
    expect(worse.stderr).toContain("throughput 10000 -> 7000");
  });

  test("renders a self-contained HTML page with throughput and percentile charts", () => {
    const html = benchHtml(report(10_000, 2));
    expect(html.match(/<svg[^>]*class="chart/g)).toHaveLength(2);
    // A percentile line per path; valkey-benchmark reports no p90/p99.9, so its line has 2 points.
    expect(html.match(/<polyline class="series"/g)).toHaveLength(2);
    expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org)/);
  });

  test("shows a workload's settings as a table of named values, and every version labelled, never raw JSON", () => {
    expect(settingsRows({ pipeline: 16, valueBytes: 256, keySpace: 10_000, disruption: { afterSeconds: 5 } })).toEqual([
      ["pipeline depth", "16"],
      ["value size (bytes)", "256"],
      ["keys", "10000"],
      ["disruption.after seconds", "5"],
    ]);
    const committed = readBenchReport(join(BASELINE_REPORTS, "bench-dev-01.json"));
    const versions = Object.fromEntries(versionRows(committed));
    expect(versions["Valkey server"]).toMatch(
      /^9\.1\.2 \(localhost\/valkey:9\.1\.2-debian-sid: built here from Debian's package/,
    );
    expect(Object.keys(versions)).toEqual(
      expect.arrayContaining([
        "wrapper chart",
        "upstream chart (valkey)",
        "helm",
        "exporter (redis_exporter)",
        "Kubernetes",
      ]),
    );
    for (const page of [benchMarkdown(committed), benchHtml(committed)]) {
      expect(page).not.toContain('{"mode"');
      expect(page).toContain("pipeline depth");
      expect(page).toContain("exporter (redis_exporter)");
    }
  });

  test("summarises runs by their medians and keeps every error", () => {
    const path = summarisePath("w", "p", "d", "ops/s", [
      { opsPerSecond: 3, p50Millis: 1, p99Millis: 9, errors: { TIMEOUT: 1 } },
      { opsPerSecond: 1, p50Millis: 2, p99Millis: 7 },
      { opsPerSecond: 2, p50Millis: 3, p99Millis: 8, errors: { TIMEOUT: 2, NOREPLICAS: 1 } },
    ]);
    expect(path).toMatchObject({ path: "w/p", opsPerSecondMedian: 2, p50MillisMedian: 2, p99MillisMedian: 8 });
    expect(path.p90MillisMedian).toBeUndefined();
    expect(path.errors).toEqual({ TIMEOUT: 3, NOREPLICAS: 1 });
  });
});

describe("the work a path did, as the report states it", () => {
  test("adds every run's commands and bytes from the primary's INFO, and prints them beside the figures", () => {
    const run = (commands: number) => ({
      opsPerSecond: 1000,
      p50Millis: 0.1,
      p99Millis: 1,
      hits: commands,
      misses: 0,
      commands,
      bytesIn: commands * 36,
      bytesOut: commands * 263,
    });
    const path = summarisePath("cache-p16", "lean-host", "lean generator", "ops/s", [run(200_000), run(200_010)]);
    expect([path.commands, path.bytesIn, path.bytesOut]).toEqual([400_010, 14_400_360, 105_202_630]);
    expect(workText(path)).toBe("400010; 14.4 / 105.2 MB");
    expect(workText(summarisePath("x", "y", "z", "ops/s", [{ opsPerSecond: 1, p50Millis: 1, p99Millis: 1 }]))).toBe(
      "-",
    );
  });
});

describe("the benchmark's workloads", () => {
  test("measure what TLS costs where the TLS profile fits (dev-01), plain and TLS paths side by side", () => {
    const tls = benchWorkloads({ openLoopRate: 10_000, env: "dev-01" }).find((w) => w.id === "cache-tls");
    expect(tls?.paths.map((p) => p.id)).toEqual(["plain-p1", "tls-p1", "plain-p16", "tls-p16"]);
    expect(tls?.ratios?.map((r) => [r.numerator, r.denominator])).toEqual([
      ["cache-tls/tls-p1", "cache-tls/plain-p1"],
      ["cache-tls/tls-p16", "cache-tls/plain-p16"],
    ]);
    expect(benchWorkloads({ openLoopRate: 10_000, env: "prod-01" }).map((w) => w.id)).not.toContain("cache-tls");
  });

  test("VALKEY_BENCH_WORKLOADS picks workloads by id, and an unknown id is an error naming the known ones", () => {
    expect(benchWorkloads({ openLoopRate: 10_000, only: ["cache-tls", "cache-p1"] }).map((w) => w.id)).toEqual([
      "cache-p1",
      "cache-tls",
    ]);
    expect(() => benchWorkloads({ openLoopRate: 10_000, only: ["cache-p2"] })).toThrow(
      /VALKEY_BENCH_WORKLOADS names cache-p2.*workloads: cache-p16, cache-p1/,
    );
  });

  test("the closed cache loops run in-cluster generators for every count asked, with ratios between measured paths only", () => {
    const [p16] = benchWorkloads({ openLoopRate: 10_000, generators: [1, 4], only: ["cache-p16"] });
    expect(p16?.paths.map((p) => p.id)).toEqual([
      "generator-host",
      "lean-host",
      "valkey-benchmark-host",
      "valkey-benchmark-in-cluster",
      "lean-cluster-1",
      "lean-cluster-4",
    ]);
    expect(p16?.ratios?.map((r) => r.name)).toContain("cluster-4-vs-1-p16");
    expect(p16?.ratios?.map((r) => r.name)).toContain("cluster-1-vs-valkey-benchmark-in-cluster-p16");
  });

  test("a cluster of your own is loaded from inside only: no host path, no ratio naming one", () => {
    const workloads = benchWorkloads({ openLoopRate: 10_000, generators: [1, 2], inClusterOnly: true });
    expect(workloads.map((w) => w.id)).toEqual(["cache-p16", "cache-p1"]);
    for (const workload of workloads) {
      expect(workload.paths.map((p) => p.id)).toEqual([
        "valkey-benchmark-in-cluster",
        "lean-cluster-1",
        "lean-cluster-2",
      ]);
      expect(
        workload.ratios?.flatMap((r) => [r.numerator, r.denominator]).every((path) => !path.includes("-host")),
      ).toBe(true);
      expect(workload.ratios?.length).toBe(2);
    }
    expect(() => benchWorkloads({ openLoopRate: 10_000, generators: [], inClusterOnly: true })).toThrow(
      /VALKEY_BENCH_GENERATORS=none leaves nothing to run there/,
    );
    expect(() =>
      benchWorkloads({ openLoopRate: 10_000, generators: [1], inClusterOnly: true, only: ["sessions"] }),
    ).toThrow(/not a workload of dev-01 on a cluster of your own/);
  });
});

describe("load settings and valkey-benchmark output", () => {
  const good: LoadSettings = {
    mode: "closed",
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
    expect(() => validateLoadSettings({ ...good, mode: "open" })).toThrow(/rate=undefined is not valid/);
    expect(() => validateLoadSettings({ ...good, mode: "open", rate: 5000 })).not.toThrow();
    const fanOut = { subscribers: 2, rate: 100, messageBytes: 64, maxMessages: 100, maxSeconds: 5 };
    expect(() => validateFanOutSettings(fanOut)).not.toThrow();
    expect(() => validateFanOutSettings({ ...fanOut, subscribers: 0 })).toThrow(/subscribers=0 is not valid/);
    expect(() => validateFanOutSettings({ ...fanOut, messageBytes: 8 })).toThrow(/messageBytes=8 is not valid/);
  });

  test("parses valkey-benchmark's CSV and the CPU its shell's `times` reports", () => {
    const output =
      '"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"\n"GET","52356.02","1.123","0.200","1.015","1.871","2.511","9.100"\n--- times\n0m0.00s 0m0.00s\n0m1.25s 0m0.50s\n';
    expect(parseBenchmarkOutput(output, 3)).toEqual({
      command: "GET",
      opsPerSecond: 52356.02,
      latencyMillis: { avg: 1.123, p50: 1.015, p95: 1.871, p99: 2.511, max: 9.1 },
      cpuSeconds: 1.75,
      wallSeconds: 3,
    });
  });

  test("fails on errors valkey-benchmark printed instead of measuring them", () => {
    expect(() => parseBenchmarkOutput("AUTH failed: WRONGPASS invalid username-password pair\n--- times\n")).toThrow(
      /valkey-benchmark reported errors:\nAUTH failed: WRONGPASS/,
    );
  });

  test("reads the key space the generator preloads, and authenticates like it", () => {
    expect(benchKey(1234)).toBe("key:000000001234");
    const args = referenceArgs({ ...good, keySpace: 10_000 }, "127.0.0.1", 30000, "get", {
      username: "default",
      password: "pw",
    });
    expect(args).toEqual(expect.arrayContaining(["-r", "10000", "--user", "default", "-a", "pw"]));
  });
});
