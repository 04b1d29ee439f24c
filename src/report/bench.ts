import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { median } from "../stats.ts";
import { markdownTable } from "./index.ts";
import { timelineChart } from "./timeline-chart.ts";

/** Committed reports measured on this project's CI machine kind: what `bench:compare` compares with by default. */
export const BASELINE_REPORTS = fileURLToPath(new URL("../../reports/baseline/", import.meta.url));

export const BENCH_SCHEMA = "valkey-harness/bench-report/v3";

export interface RunSample {
  opsPerSecond: number;
  p50Millis: number;
  p90Millis?: number;
  p99Millis: number;
  p999Millis?: number;
  /** Open loop: p99 of how late the generator sent against its schedule. */
  sendLagP99Millis?: number;
  errors?: Record<string, number>;
  /** Keyspace hits and misses the primary counted during the run (INFO stats, before and after). */
  hits?: number;
  misses?: number;
  /** The work the primary saw during the run (INFO stats, before and after): commands, bytes from and to clients. */
  commands?: number;
  bytesIn?: number;
  bytesOut?: number;
  /** CPU seconds per million operations: of the load's client (generator or valkey-benchmark), of valkey-server. */
  clientCpuPerMillion?: number;
  serverCpuPerMillion?: number;
  /** The client used at least 85 % of the CPU its threads could: the throughput is its limit, not the server's. */
  clientBound?: boolean;
  /** Loads through a disruption: each second of the run, and when the disruption's steps happened. */
  timeline?: { second: number; operations: number; errors: number; p50Millis: number; p99Millis: number }[];
  events?: { at: number; what: string }[];
  /** In-cluster generators: each pod's node, throughput and whether it was client-bound. */
  generators?: { index: number; node: string; opsPerSecond: number; cpuSeconds: number; clientBound: boolean }[];
}

/** One measured path of one workload: medians of the runs, and every run. */
export interface PathResult {
  /** Unique in the report, `<workload>/<path>`: what `compare` matches on. */
  path: string;
  workload: string;
  description: string;
  /** What opsPerSecond counts: ops/s, requests/s, deliveries/s. */
  unit: string;
  opsPerSecondMedian: number;
  p50MillisMedian: number;
  p90MillisMedian?: number;
  p99MillisMedian: number;
  p999MillisMedian?: number;
  sendLagP99MillisMedian?: number;
  /** Errors over all runs, by kind. */
  errors: Record<string, number>;
  /** Keyspace hits and misses over all runs, counted on the primary (equal work: a cache path misses nothing). */
  hits?: number;
  misses?: number;
  /** Commands and bytes from and to clients over all runs, counted on the primary. */
  commands?: number;
  bytesIn?: number;
  bytesOut?: number;
  clientCpuPerMillionMedian?: number;
  serverCpuPerMillionMedian?: number;
  /** Most runs were client-bound: read the throughput as the client's limit, not the server's. */
  clientBound?: boolean;
  runs: RunSample[];
}

export interface WorkloadInfo {
  id: string;
  name: string;
  /** How latency is measured, in words. */
  latency: string;
  settings: Record<string, unknown>;
}

/** A ratio a workload declares, between the medians of two of its paths. */
export interface RatioSpec {
  name: string;
  numerator: string;
  denominator: string;
  description: string;
}

export interface Ratio {
  name: string;
  value: number;
  description: string;
}

export interface BenchReport {
  schema: typeof BENCH_SCHEMA;
  createdAt: string;
  environment: string;
  chart: { wrapper: string; upstream: string; helm: string };
  images: Record<string, string>;
  versions: Record<string, string>;
  machine: { cpus: number; cpuModel: string; memoryGiB: number; node: string; platform: string };
  /** How the load reaches Valkey, in words. */
  loadPath: string;
  workloads: WorkloadInfo[];
  paths: PathResult[];
  ratios: Ratio[];
}

/** Everything of a report that is not measured by the workloads. */
export type BenchReportHeader = Omit<BenchReport, "schema" | "workloads" | "paths" | "ratios">;

/** The report from the workloads' results: their descriptions, every path, and the ratios they declare. */
export function assembleBenchReport(
  header: BenchReportHeader,
  workloads: (WorkloadInfo & { ratios?: RatioSpec[] })[],
  paths: PathResult[],
): BenchReport {
  const ops = (path: string) => {
    const found = paths.find((p) => p.path === path);
    if (!found) throw new Error(`a ratio names path ${path}, which no workload measured`);
    return found.opsPerSecondMedian;
  };
  return {
    schema: BENCH_SCHEMA,
    ...header,
    workloads: workloads.map((w) => ({ id: w.id, name: w.name, latency: w.latency, settings: w.settings })),
    paths,
    ratios: workloads.flatMap((w) =>
      (w.ratios ?? []).map((r) => ({
        name: r.name,
        value: Number((ops(r.numerator) / ops(r.denominator)).toFixed(2)),
        description: r.description,
      })),
    ),
  };
}

/** Medians of a path's runs (percentiles a tool does not report stay absent). */
export function summarisePath(
  workload: string,
  path: string,
  description: string,
  unit: string,
  runs: RunSample[],
): PathResult {
  const medianOf = (pick: (run: RunSample) => number | undefined) => {
    const values = runs.map(pick).filter((v): v is number => v !== undefined);
    return values.length === runs.length && values.length > 0 ? Number(median(values).toFixed(3)) : undefined;
  };
  const errors: Record<string, number> = {};
  for (const run of runs)
    for (const [kind, n] of Object.entries(run.errors ?? {})) errors[kind] = (errors[kind] ?? 0) + n;
  return {
    path: `${workload}/${path}`,
    workload,
    description,
    unit,
    opsPerSecondMedian: Math.round(median(runs.map((r) => r.opsPerSecond))),
    p50MillisMedian: medianOf((r) => r.p50Millis) ?? 0,
    p90MillisMedian: medianOf((r) => r.p90Millis),
    p99MillisMedian: medianOf((r) => r.p99Millis) ?? 0,
    p999MillisMedian: medianOf((r) => r.p999Millis),
    sendLagP99MillisMedian: medianOf((r) => r.sendLagP99Millis),
    errors,
    ...(runs.some((r) => r.hits !== undefined)
      ? { hits: runs.reduce((n, r) => n + (r.hits ?? 0), 0), misses: runs.reduce((n, r) => n + (r.misses ?? 0), 0) }
      : {}),
    ...(runs.some((r) => r.commands !== undefined)
      ? {
          commands: runs.reduce((n, r) => n + (r.commands ?? 0), 0),
          bytesIn: runs.reduce((n, r) => n + (r.bytesIn ?? 0), 0),
          bytesOut: runs.reduce((n, r) => n + (r.bytesOut ?? 0), 0),
        }
      : {}),
    clientCpuPerMillionMedian: medianOf((r) => r.clientCpuPerMillion),
    serverCpuPerMillionMedian: medianOf((r) => r.serverCpuPerMillion),
    ...(runs.some((r) => r.clientBound !== undefined)
      ? { clientBound: runs.filter((r) => r.clientBound).length * 2 > runs.length }
      : {}),
    runs,
  };
}

const dash = (value: number | undefined) => (value === undefined ? "-" : value);
/** The work the primary saw on a path, over all its runs: commands, and MB read from / written to clients. */
export const workText = (p: Pick<PathResult, "commands" | "bytesIn" | "bytesOut">) =>
  p.commands === undefined
    ? "-"
    : `${p.commands}; ${((p.bytesIn ?? 0) / 1e6).toFixed(1)} / ${((p.bytesOut ?? 0) / 1e6).toFixed(1)} MB`;
/** In-cluster generators: where each ran and what it did, in the run nearest the median. */
const generatorNotes = (paths: PathResult[]) =>
  paths.flatMap((p) => {
    const runs = p.runs.filter((r) => r.generators);
    if (runs.length === 0) return [];
    const run = [...runs].sort(
      (a, b) => Math.abs(a.opsPerSecond - p.opsPerSecondMedian) - Math.abs(b.opsPerSecond - p.opsPerSecondMedian),
    )[0] as RunSample;
    const each = (run.generators ?? []).map(
      (g) =>
        `#${g.index} on ${g.node}: ${g.opsPerSecond} ops/s, ${g.cpuSeconds} CPU s${g.clientBound ? " (client-bound)" : ""}`,
    );
    return [
      "",
      `${p.description}, the run nearest the median (${run.opsPerSecond} ops/s in total): ${each.join("; ")}.`,
    ];
  });
/** Loads through a disruption: when its steps happened, and the worst seconds. */
const disruptionNotes = (paths: PathResult[]) =>
  paths.flatMap((p) => {
    const run = p.runs.find((r) => r.timeline);
    if (!run?.timeline) return [];
    const worst = [...run.timeline].sort((a, b) => b.errors - a.errors || a.operations - b.operations).slice(0, 3);
    const failing = run.timeline.filter((s) => s.errors > 0).length;
    return [
      "",
      `Through the disruption: ${(run.events ?? []).map((e) => `${e.at} s ${e.what}`).join("; ")}. Seconds with errors: ${failing}; worst seconds: ${worst.map((s) => `${s.second} s: ${s.operations} ok, ${s.errors} errors, p99 ${s.p99Millis} ms`).join("; ")}.`,
    ];
  });
const lagNote = (paths: PathResult[]) =>
  paths
    .filter((p) => p.sendLagP99MillisMedian !== undefined)
    .map(
      (p) =>
        `${p.description}: the generator sent 99 % of commands within ${p.sendLagP99MillisMedian} ms of their schedule; latency up to that is the generator's own delay.`,
    );
const errorText = (errors: Record<string, number>) =>
  Object.entries(errors)
    .map(([kind, n]) => `${kind} ${n}`)
    .join(", ") || "0";

/** Words for the workload settings a reader meets in every report. */
const SETTING_LABELS: Record<string, string> = {
  mode: "load model (closed: a new command when one answers; open: a fixed schedule)",
  connections: "connections",
  pipeline: "pipeline depth",
  keySpace: "keys",
  distribution: "key distribution",
  valueBytes: "value size (bytes)",
  readRatio: "share of reads",
  maxOperations: "at most, operations",
  maxSeconds: "at most, seconds",
  rate: "rate (operations/s)",
  threads: "generator threads",
};

const words = (key: string) => key.replace(/([a-z0-9])([A-Z])/g, "$1 $2").toLowerCase();

/** A workload's settings as rows of a table: nested settings under dotted names, lists joined. */
export function settingsRows(settings: Record<string, unknown>, prefix = ""): [string, string][] {
  return Object.entries(settings).flatMap(([key, value]): [string, string][] => {
    const name = prefix ? `${prefix}.${key}` : key;
    if (value !== null && typeof value === "object" && !Array.isArray(value))
      return settingsRows(value as Record<string, unknown>, name);
    const shown = Array.isArray(value) ? value.join(", ") : String(value);
    return [[prefix ? words(name) : (SETTING_LABELS[key] ?? words(key)), shown]];
  });
}

/** Where the server's image came from, from its name: the offline build or a registry. */
function imageSource(image: string | undefined): string {
  if (!image) return "?";
  if (image.startsWith("localhost/") && image.includes("debian"))
    return `${image}: built here from Debian's package (offline images; its version differs from the chart's pin)`;
  return `${image}: pulled from its registry`;
}

/** Every version a reader needs to compare two reports, each with its name. */
export function versionRows(report: BenchReport): [string, string][] {
  const v = report.versions;
  const rows: [string, string | undefined][] = [
    ["wrapper chart", report.chart.wrapper],
    ["upstream chart (valkey)", report.chart.upstream],
    ["helm", report.chart.helm],
    ["Valkey server", `${v.valkey ?? "?"} (${imageSource(report.images.valkey)})`],
    ["exporter (redis_exporter)", `${v.redisExporter ?? "?"} (${report.images.exporter ?? "?"})`],
    ["Kubernetes", v.kubernetes],
    ["node image", report.images.node],
    ["containerd", v.containerd],
  ];
  return rows.filter((row): row is [string, string] => row[1] !== undefined);
}

export function benchMarkdown(report: BenchReport): string {
  const sections = report.workloads.flatMap((w) => [
    `#### ${w.name}`,
    "",
    `Latency: ${w.latency}.`,
    "",
    markdownTable(["setting", "value"], settingsRows(w.settings)),
    "",
    markdownTable(
      [
        "path",
        "throughput (median)",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "p99.9 ms",
        "errors",
        "hits / misses",
        "commands; MB in / out",
        "client CPU s per M ops",
        "server CPU s per M ops",
        "runs",
      ],
      report.paths
        .filter((p) => p.workload === w.id)
        .map((p) => [
          `${p.description}${p.clientBound ? " **(client-bound)**" : ""}`,
          `${p.opsPerSecondMedian} ${p.unit}`,
          p.p50MillisMedian,
          dash(p.p90MillisMedian),
          p.p99MillisMedian,
          dash(p.p999MillisMedian),
          errorText(p.errors),
          p.hits === undefined ? "-" : `${p.hits} / ${p.misses}`,
          workText(p),
          dash(p.clientCpuPerMillionMedian),
          dash(p.serverCpuPerMillionMedian),
          p.runs.length,
        ]),
    ),
    ...disruptionNotes(report.paths.filter((p) => p.workload === w.id)),
    ...generatorNotes(report.paths.filter((p) => p.workload === w.id)),
    "",
    ...lagNote(report.paths.filter((p) => p.workload === w.id)).flatMap((line) => [line, ""]),
  ]);
  return [
    `### Benchmark of ${report.environment}`,
    "",
    `${report.createdAt}, ${report.machine.cpus} CPUs (${report.machine.cpuModel}), ${report.machine.memoryGiB} GiB.`,
    "",
    markdownTable(["version of", "here"], versionRows(report)),
    "",
    `Load path: ${report.loadPath}.`,
    "",
    ...report.ratios.map((r) => `- ${r.description}: **${r.value}x**`),
    "",
    ...sections,
  ].join("\n");
}

const escapeHtml = (text: string) => text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");

const htmlTable = (header: string[], rows: string[][]) =>
  `<table><tr>${header.map((h) => `<th>${escapeHtml(h)}</th>`).join("")}</tr>${rows
    .map((row) => `<tr>${row.map((cell) => `<td>${escapeHtml(cell)}</td>`).join("")}</tr>`)
    .join("")}</table>`;

function bars(title: string, values: { label: string; value: number; unit: string }[]): string {
  const max = Math.max(...values.map((v) => v.value), 1);
  const rows = values
    .map((v, i) => {
      const width = Math.round((v.value / max) * 330);
      const y = 30 + i * 30;
      return `<text x="0" y="${y + 15}" font-size="12">${escapeHtml(v.label)}</text><rect x="220" y="${y}" width="${width}" height="20" fill="#4063d8"/><text x="${226 + width}" y="${y + 15}" font-size="12">${v.value} ${escapeHtml(v.unit)}</text>`;
    })
    .join("");
  return `<svg xmlns="http://www.w3.org/2000/svg" class="chart throughput" width="700" height="${40 + values.length * 30}" role="img" aria-label="${escapeHtml(title)}"><text x="0" y="16" font-size="14" font-weight="bold">${escapeHtml(title)}</text>${rows}</svg>`;
}

/** Latency percentiles per path: a line per path over p50, p90, p99, p99.9 (log scale). */
function percentileChart(title: string, paths: PathResult[]): string {
  const percentiles = [
    { label: "p50", pick: (p: PathResult) => p.p50MillisMedian },
    { label: "p90", pick: (p: PathResult) => p.p90MillisMedian },
    { label: "p99", pick: (p: PathResult) => p.p99MillisMedian },
    { label: "p99.9", pick: (p: PathResult) => p.p999MillisMedian },
  ];
  const values = paths.flatMap((p) => percentiles.map((q) => q.pick(p) ?? 0)).filter((v) => v > 0);
  const lo = Math.log10(Math.min(...values, 0.01));
  const hi = Math.log10(Math.max(...values, 1)) + 0.1;
  const [left, top, width, height] = [60, 30, 420, 200];
  const x = (i: number) => left + (i * width) / (percentiles.length - 1);
  const y = (ms: number) => top + height - ((Math.log10(ms) - lo) / (hi - lo)) * height;
  const colours = ["#4063d8", "#cb3c33", "#389826", "#9558b2", "#e69f00"];
  const grid = [0.01, 0.1, 1, 10, 100, 1000]
    .filter((ms) => Math.log10(ms) >= lo && Math.log10(ms) <= hi)
    .map(
      (ms) =>
        `<line x1="${left}" x2="${left + width}" y1="${y(ms)}" y2="${y(ms)}" stroke="#ddd"/><text x="${left - 6}" y="${y(ms) + 4}" font-size="11" text-anchor="end">${ms} ms</text>`,
    )
    .join("");
  const axis = percentiles
    .map((q, i) => `<text x="${x(i)}" y="${top + height + 16}" font-size="11" text-anchor="middle">${q.label}</text>`)
    .join("");
  const lines = paths
    .map((p, n) => {
      const points = percentiles
        .map((q, i) => ({ i, v: q.pick(p) }))
        .filter((pt): pt is { i: number; v: number } => pt.v !== undefined && pt.v > 0);
      const colour = colours[n % colours.length];
      const polyline = `<polyline class="series" fill="none" stroke="${colour}" stroke-width="2" points="${points.map((pt) => `${x(pt.i).toFixed(1)},${y(pt.v).toFixed(1)}`).join(" ")}"/>`;
      const dots = points
        .map((pt) => `<circle cx="${x(pt.i).toFixed(1)}" cy="${y(pt.v).toFixed(1)}" r="3" fill="${colour}"/>`)
        .join("");
      const legend = `<rect x="${left + width + 20}" y="${top + n * 18}" width="10" height="10" fill="${colour}"/><text x="${left + width + 34}" y="${top + n * 18 + 9}" font-size="11">${escapeHtml(p.path.split("/")[1] ?? p.path)}</text>`;
      return polyline + dots + legend;
    })
    .join("");
  return `<svg xmlns="http://www.w3.org/2000/svg" class="chart percentiles" width="700" height="${top + height + 30}" role="img" aria-label="${escapeHtml(title)}"><text x="0" y="16" font-size="14" font-weight="bold">${escapeHtml(title)}</text>${grid}${axis}${lines}</svg>`;
}

/** A self-contained page (inline SVG, no scripts, no external assets). */
export function benchHtml(report: BenchReport): string {
  const sections = report.workloads
    .map((w) => {
      const paths = report.paths.filter((p) => p.workload === w.id);
      const rows = paths
        .map(
          (p) =>
            `<tr><td>${escapeHtml(p.description)}${p.clientBound ? " <b>(client-bound)</b>" : ""}</td><td>${p.opsPerSecondMedian} ${escapeHtml(p.unit)}</td><td>${p.p50MillisMedian}</td><td>${dash(p.p90MillisMedian)}</td><td>${p.p99MillisMedian}</td><td>${dash(p.p999MillisMedian)}</td><td>${escapeHtml(errorText(p.errors))}</td><td>${p.hits === undefined ? "-" : `${p.hits} / ${p.misses}`}</td><td>${escapeHtml(workText(p))}</td><td>${dash(p.clientCpuPerMillionMedian)}</td><td>${dash(p.serverCpuPerMillionMedian)}</td></tr>`,
        )
        .join("");
      return `<section id="${escapeHtml(w.id)}"><h2>${escapeHtml(w.name)}</h2>
<p>Latency: ${escapeHtml(w.latency)}.</p>
${bars(
  "Throughput (median of runs)",
  paths.map((p) => ({ label: p.path.split("/")[1] ?? p.path, value: p.opsPerSecondMedian, unit: p.unit })),
)}
${percentileChart("Latency percentiles (median of runs, ms, log scale)", paths)}
${paths
  .flatMap((p) =>
    p.runs
      .filter((r) => r.timeline)
      .map((r) => timelineChart(`${p.path}: per second through the disruption`, r.timeline ?? [], r.events ?? [])),
  )
  .join("\n")}
<table><tr><th>path</th><th>throughput</th><th>p50 ms</th><th>p90 ms</th><th>p99 ms</th><th>p99.9 ms</th><th>errors</th><th>hits / misses</th><th>commands; MB in / out</th><th>client CPU s/M</th><th>server CPU s/M</th></tr>${rows}</table>
${lagNote(paths)
  .map((line) => `<p>${escapeHtml(line)}</p>`)
  .join("")}
${htmlTable(["setting", "value"], settingsRows(w.settings))}</section>`;
    })
    .join("\n");
  return `<!doctype html><html><head><meta charset="utf-8"><title>Valkey benchmark ${escapeHtml(report.environment)}</title>
<style>body{font-family:sans-serif;margin:24px;max-width:820px}table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child{text-align:left}pre{white-space:pre-wrap;word-break:break-all;font-size:11px}</style></head><body>
<h1>Valkey benchmark of ${escapeHtml(report.environment)}</h1>
<p>${escapeHtml(report.createdAt)}, ${report.machine.cpus} CPUs (${escapeHtml(report.machine.cpuModel)}), ${report.machine.memoryGiB} GiB.</p>
${htmlTable(["version of", "here"], versionRows(report))}
<p>Load path: ${escapeHtml(report.loadPath)}.</p>
<ul>${report.ratios.map((r) => `<li>${escapeHtml(r.description)}: <b>${r.value}x</b></li>`).join("")}</ul>
${sections}
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
/** How far a path's runs spread around their median: (largest - smallest) / median. Undefined with fewer than two runs. */
export function runSpread(values: readonly number[]): number | undefined {
  if (values.length < 2) return undefined;
  const middle = median([...values]);
  return middle > 0 ? (Math.max(...values) - Math.min(...values)) / middle : 0;
}

/** One path of a comparison: the medians before and after, what change was allowed, and the verdict. */
export interface PathComparison {
  path: string;
  unit: string;
  throughput: { before: number; after: number; change: number; allowed: number };
  p99: { before: number; after: number; change: number; allowed: number };
  verdict: "ok" | "regression" | "not judged";
  /** What regressed, or why the path was not judged. */
  notes: string[];
}

const errorCount = (errors: Record<string, number> | undefined) =>
  Object.values(errors ?? {}).reduce((sum, n) => sum + n, 0);
const percent = (share: number) => `${(share * 100).toFixed(1)} %`;

/**
 * Compares two reports path by path. A change counts against the larger of the threshold
 * and the run-to-run spread the baseline recorded for that path, at most twice the
 * threshold (a gate that flags what the same code varies by on a shared machine gets
 * switched off); a path with a single run recorded (the disruption workloads) has no
 * spread to judge against and is shown, not judged. Errors or misses where the baseline had none are a regression: the work
 * was not the same.
 */
export function comparePaths(baseline: BenchReport, current: BenchReport, thresholds: Thresholds): PathComparison[] {
  for (const [name, report] of [
    ["baseline", baseline],
    ["current", current],
  ] as const) {
    if (report.schema !== BENCH_SCHEMA)
      throw new Error(`${name} report has schema ${report.schema}, expected ${BENCH_SCHEMA}`);
  }
  return baseline.paths.map((base): PathComparison => {
    const now = current.paths.find((p) => p.path === base.path);
    const throughputOf = (p: PathResult) => p.runs.map((r) => r.opsPerSecond);
    const p99Of = (p: PathResult) => p.runs.map((r) => r.p99Millis);
    if (!now)
      return {
        path: base.path,
        unit: base.unit,
        throughput: { before: base.opsPerSecondMedian, after: Number.NaN, change: Number.NaN, allowed: Number.NaN },
        p99: { before: base.p99MillisMedian, after: Number.NaN, change: Number.NaN, allowed: Number.NaN },
        verdict: "regression",
        notes: ["missing from the current report"],
      };
    // The baseline's spread only (a regression that adds variance must not widen its own
    // allowance), and never more than twice the threshold.
    const judged = base.runs.length > 1 && now.runs.length > 1;
    const allowance = (threshold: number, spread: number | undefined) =>
      Math.min(2 * threshold, Math.max(threshold, spread ?? 0));
    const allowedDrop = allowance(thresholds.maxThroughputDrop, runSpread(throughputOf(base)));
    const allowedRise = allowance(thresholds.maxP99Rise, runSpread(p99Of(base)));
    const throughputChange = now.opsPerSecondMedian / base.opsPerSecondMedian - 1;
    const p99Change = base.p99MillisMedian > 0 ? now.p99MillisMedian / base.p99MillisMedian - 1 : 0;
    const notes: string[] = [];
    if (!judged) notes.push("one run recorded: no run-to-run spread to judge a change against");
    else {
      if (-throughputChange > allowedDrop)
        notes.push(
          `throughput ${base.opsPerSecondMedian} -> ${now.opsPerSecondMedian} ${now.unit} (-${percent(-throughputChange)}, allowed ${percent(allowedDrop)})`,
        );
      if (p99Change > allowedRise)
        notes.push(
          `p99 ${base.p99MillisMedian} -> ${now.p99MillisMedian} ms (+${percent(p99Change)}, allowed ${percent(allowedRise)})`,
        );
      if (errorCount(base.errors) === 0 && errorCount(now.errors) > 0)
        notes.push(`errors 0 -> ${errorCount(now.errors)} (${JSON.stringify(now.errors)}): not the same work`);
      if ((base.misses ?? 0) === 0 && (now.misses ?? 0) > 0) notes.push(`misses 0 -> ${now.misses}: not the same work`);
    }
    return {
      path: base.path,
      unit: now.unit,
      throughput: {
        before: base.opsPerSecondMedian,
        after: now.opsPerSecondMedian,
        change: throughputChange,
        allowed: allowedDrop,
      },
      p99: { before: base.p99MillisMedian, after: now.p99MillisMedian, change: p99Change, allowed: allowedRise },
      verdict: !judged ? "not judged" : notes.length > 0 ? "regression" : "ok",
      notes,
    };
  });
}

/** The regressions of a comparison, one line each: what `bench:compare` fails on. */
export function compareReports(baseline: BenchReport, current: BenchReport, thresholds: Thresholds): string[] {
  return comparePaths(baseline, current, thresholds)
    .filter((c) => c.verdict === "regression")
    .flatMap((c) => c.notes.map((note) => `${c.path}: ${note}`));
}

/** The comparison as a Markdown table: every path, its change, what was allowed, the verdict. */
export function comparisonTable(comparisons: readonly PathComparison[]): string {
  const signed = (share: number) => (Number.isNaN(share) ? "-" : `${share >= 0 ? "+" : ""}${percent(share)}`);
  const allowed = (share: number, sign: string) => (Number.isNaN(share) ? "-" : `${sign}${percent(share)}`);
  return markdownTable(
    ["path", "throughput before -> after", "change (allowed)", "p99 ms before -> after", "change (allowed)", "verdict"],
    comparisons.map((c) => [
      c.path,
      `${c.throughput.before} -> ${Number.isNaN(c.throughput.after) ? "-" : c.throughput.after} ${c.unit}`,
      `${signed(c.throughput.change)} (${allowed(c.throughput.allowed, "-")})`,
      `${c.p99.before} -> ${Number.isNaN(c.p99.after) ? "-" : c.p99.after}`,
      `${signed(c.p99.change)} (${allowed(c.p99.allowed, "+")})`,
      c.verdict === "ok" ? "ok" : `${c.verdict.toUpperCase()}${c.notes.length ? `: ${c.notes.join("; ")}` : ""}`,
    ]),
  );
}

export function readBenchReport(file: string): BenchReport {
  return JSON.parse(readFileSync(file, "utf8")) as BenchReport;
}

/** Charts the rendered page must hold: throughput and percentiles per workload, and a timeline per disruption run. */
export function expectedCharts(report: BenchReport): number {
  return report.workloads.length * 2 + report.paths.flatMap((p) => p.runs.filter((r) => r.timeline)).length;
}
