import { readFileSync } from "node:fs";
import { markdownTable } from "./index.ts";

export const BENCH_SCHEMA = "valkey-harness/bench-report/v1";

/** One measured path: median of the runs, and every run. */
export interface PathResult {
  path: string;
  description: string;
  opsPerSecondMedian: number;
  p50MillisMedian: number;
  p99MillisMedian: number;
  runs: { opsPerSecond: number; p50Millis: number; p99Millis: number }[];
}

export interface BenchReport {
  schema: typeof BENCH_SCHEMA;
  createdAt: string;
  environment: string;
  chart: { wrapper: string; upstream: string; helm: string };
  images: Record<string, string>;
  versions: Record<string, string>;
  machine: { cpus: number; cpuModel: string; memoryGiB: number; node: string; platform: string };
  workload: { name: string; settings: Record<string, unknown> };
  paths: PathResult[];
  ratios: { generatorVsBenchmarkSamePath: number; hostPathVsInCluster: number };
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

export function benchMarkdown(report: BenchReport): string {
  return [
    `### Benchmark: ${report.workload.name} on ${report.environment}`,
    "",
    `Chart ${report.chart.wrapper} (upstream valkey ${report.chart.upstream}), ${report.chart.helm}; Valkey image ${report.images.valkey}; Kubernetes ${report.versions.kubernetes ?? "?"}; ${report.machine.cpus} CPUs (${report.machine.cpuModel}), ${report.machine.memoryGiB} GiB.`,
    "",
    markdownTable(
      ["path", "ops/s (median)", "p50 ms", "p99 ms", "runs"],
      report.paths.map((p) => [
        p.description,
        p.opsPerSecondMedian,
        p.p50MillisMedian,
        p.p99MillisMedian,
        p.runs.length,
      ]),
    ),
    "",
    `Generator / valkey-benchmark on the same path: **${report.ratios.generatorVsBenchmarkSamePath}x** throughput. ` +
      `Host path / in-cluster: **${report.ratios.hostPathVsInCluster}x** (the cost of reaching the cluster from outside).`,
    "",
    `Settings: \`${JSON.stringify(report.workload.settings)}\``,
  ].join("\n");
}

function bars(title: string, unit: string, values: { label: string; value: number }[]): string {
  const max = Math.max(...values.map((v) => v.value), 1);
  const rows = values
    .map((v, i) => {
      const width = Math.round((v.value / max) * 360);
      const y = 30 + i * 34;
      return `<text x="0" y="${y + 16}" font-size="12">${v.label}</text><rect x="190" y="${y}" width="${width}" height="22" fill="#4063d8"/><text x="${196 + width}" y="${y + 16}" font-size="12">${v.value} ${unit}</text>`;
    })
    .join("");
  return `<svg xmlns="http://www.w3.org/2000/svg" width="680" height="${40 + values.length * 34}" role="img" aria-label="${title}"><text x="0" y="16" font-size="14" font-weight="bold">${title}</text>${rows}</svg>`;
}

/** A self-contained page (inline SVG, no scripts, no external assets). */
export function benchHtml(report: BenchReport): string {
  const escapeHtml = (text: string) => text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");
  const rows = report.paths
    .map(
      (p) =>
        `<tr><td>${escapeHtml(p.description)}</td><td>${p.opsPerSecondMedian}</td><td>${p.p50MillisMedian}</td><td>${p.p99MillisMedian}</td></tr>`,
    )
    .join("");
  return `<!doctype html><html><head><meta charset="utf-8"><title>Valkey benchmark ${escapeHtml(report.environment)}</title>
<style>body{font-family:sans-serif;margin:24px;max-width:760px}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child{text-align:left}</style></head><body>
<h1>Valkey benchmark: ${escapeHtml(report.workload.name)} on ${escapeHtml(report.environment)}</h1>
<p>${escapeHtml(report.createdAt)}: chart ${escapeHtml(report.chart.wrapper)}, upstream valkey ${escapeHtml(report.chart.upstream)}, ${escapeHtml(report.chart.helm)}; image ${escapeHtml(report.images.valkey ?? "")}; ${report.machine.cpus} CPUs, ${report.machine.memoryGiB} GiB.</p>
${bars(
  "Throughput (median, ops/s)",
  "ops/s",
  report.paths.map((p) => ({ label: p.path, value: p.opsPerSecondMedian })),
)}
${bars(
  "p99 latency (median, ms)",
  "ms",
  report.paths.map((p) => ({ label: p.path, value: p.p99MillisMedian })),
)}
<table><tr><th>path</th><th>ops/s</th><th>p50 ms</th><th>p99 ms</th></tr>${rows}</table>
<p>Generator / valkey-benchmark (same path): <b>${report.ratios.generatorVsBenchmarkSamePath}x</b>; host path / in-cluster: <b>${report.ratios.hostPathVsInCluster}x</b>.</p>
<pre>${escapeHtml(JSON.stringify(report.workload.settings, null, 2))}</pre>
</body></html>
`;
}

export interface Thresholds {
  /** Largest allowed throughput drop, as a share (0.15 = 15 %). */
  maxThroughputDrop: number;
  /** Largest allowed p99 rise, as a share. */
  maxP99Rise: number;
}

/** Compares a report with a baseline path by path; returns the regressions in words. */
export function compareReports(baseline: BenchReport, current: BenchReport, thresholds: Thresholds): string[] {
  for (const [name, report] of [
    ["baseline", baseline],
    ["current", current],
  ] as const) {
    if (report.schema !== BENCH_SCHEMA)
      throw new Error(`${name} report has schema ${report.schema}, expected ${BENCH_SCHEMA}`);
  }
  const regressions: string[] = [];
  for (const base of baseline.paths) {
    const now = current.paths.find((p) => p.path === base.path);
    if (!now) {
      regressions.push(`${base.path}: missing from the current report`);
      continue;
    }
    const drop = 1 - now.opsPerSecondMedian / base.opsPerSecondMedian;
    if (drop > thresholds.maxThroughputDrop) {
      regressions.push(
        `${base.path}: throughput ${base.opsPerSecondMedian} -> ${now.opsPerSecondMedian} ops/s (-${(drop * 100).toFixed(1)} %, allowed ${thresholds.maxThroughputDrop * 100} %)`,
      );
    }
    const rise = now.p99MillisMedian / base.p99MillisMedian - 1;
    if (rise > thresholds.maxP99Rise) {
      regressions.push(
        `${base.path}: p99 ${base.p99MillisMedian} -> ${now.p99MillisMedian} ms (+${(rise * 100).toFixed(1)} %, allowed ${thresholds.maxP99Rise * 100} %)`,
      );
    }
  }
  return regressions;
}

export function readBenchReport(file: string): BenchReport {
  return JSON.parse(readFileSync(file, "utf8")) as BenchReport;
}
