import { createHash } from "node:crypto";
import { cpSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { parse, parseAllDocuments } from "yaml";
import { WRAPPER_CHART } from "../environments.ts";
import { fillOnce, listFiles } from "../files.ts";
import { cacheDir } from "../settings.ts";
import type { Helm } from "./helm.ts";
import { resolveUpstreamChart, UPSTREAM_CHART } from "./upstream.ts";

interface ChartYaml {
  version: string;
  dependencies?: { name: string; version: string; repository: string }[];
}

function readChartYaml(dir: string): ChartYaml {
  return parse(readFileSync(join(dir, "Chart.yaml"), "utf8")) as ChartYaml;
}

export function wrapperVersion(chartDir = WRAPPER_CHART): string {
  return readChartYaml(chartDir).version;
}

/** The upstream version a wrapper's Chart.yaml pins. */
export function pinnedUpstreamVersion(chartDir = WRAPPER_CHART): string {
  const dependency = readChartYaml(chartDir).dependencies?.find((d) => d.name === UPSTREAM_CHART);
  if (!dependency) throw new Error(`${join(chartDir, "Chart.yaml")} has no dependency named ${UPSTREAM_CHART}`);
  return dependency.version;
}

/** True for a chart folder that carries its upstream chart (a pulled package): installed as it is, never re-staged. */
export function carriesUpstream(chartDir: string, upstreamVersion: string): boolean {
  const upstream = join(chartDir, "charts", UPSTREAM_CHART, "Chart.yaml");
  return (
    existsSync(upstream) && (parse(readFileSync(upstream, "utf8")) as { version: string }).version === upstreamVersion
  );
}

/** Bumped whenever stageChart writes its copies differently. */
const STAGING_FORMAT = 2;

/** The server image an unpacked upstream chart runs by default: registry/repository:appVersion. */
export function upstreamDefaultImage(upstreamDir: string): string {
  const values = parse(readFileSync(join(upstreamDir, "values.yaml"), "utf8")) as {
    image?: { registry?: string; repository?: string; tag?: string };
  };
  const appVersion = (parse(readFileSync(join(upstreamDir, "Chart.yaml"), "utf8")) as { appVersion?: string })
    .appVersion;
  return `${values.image?.registry ?? "docker.io"}/${values.image?.repository ?? "valkey/valkey"}:${values.image?.tag || appVersion}`;
}

/**
 * A copy of the wrapper chart with the given upstream version unpacked in its charts/
 * folder and pinned in its Chart.yaml: what `helm dependency build` would produce, for
 * the pinned version and for upgrade candidates alike. A candidate pin is staged the way a
 * pull request bumping the pin must write it: the wrapper's init container runs the new
 * version's default image too (the chart refuses a mismatch).
 */
export async function stageChart(
  helm: Helm,
  upstreamVersion = pinnedUpstreamVersion(),
  chartDir = WRAPPER_CHART,
): Promise<string> {
  // A pulled package carries its upstream chart: installed as it was published, never re-staged.
  if (carriesUpstream(chartDir, upstreamVersion)) return chartDir;
  const upstream = await resolveUpstreamChart(helm, upstreamVersion);
  const pinnedChart = await resolveUpstreamChart(helm, pinnedUpstreamVersion(chartDir));
  const wrapperFiles = (dir: string) => (source: string) => !source.startsWith(join(dir, "charts"));
  // The way of staging is part of the key: a staged copy made by an earlier way is not reused.
  const hash = createHash("sha256").update(`staging ${STAGING_FORMAT}\0`);
  for (const file of listFiles(chartDir).filter(wrapperFiles(chartDir))) {
    hash.update(relative(chartDir, file)).update("\0").update(readFileSync(file));
  }
  // Content-addressed, written aside and renamed into place: concurrent suites share it safely.
  const root = join(cacheDir(), "staged", `wrapper-${hash.digest("hex").slice(0, 12)}+valkey-${upstreamVersion}`);
  const staged = join(root, "valkey");
  await fillOnce(root, (scratch) => {
    const chart = join(scratch, "valkey");
    cpSync(chartDir, chart, { recursive: true, filter: wrapperFiles(chartDir) });
    cpSync(upstream, join(chart, "charts", UPSTREAM_CHART), { recursive: true });
    const chartYaml = readFileSync(join(chart, "Chart.yaml"), "utf8");
    writeFileSync(
      join(chart, "Chart.yaml"),
      chartYaml.replace(/(- name: valkey\n\s+version:\s*)\S+/, `$1${upstreamVersion}`),
    );
    if (pinnedChart !== upstream) {
      const from = upstreamDefaultImage(pinnedChart);
      const to = upstreamDefaultImage(upstream);
      const values = readFileSync(join(chart, "values.yaml"), "utf8");
      writeFileSync(join(chart, "values.yaml"), values.replaceAll(`image: ${from}`, `image: ${to}`));
    }
  });
  return staged;
}

export interface RenderOptions {
  release?: string;
  namespace?: string;
  valuesFiles?: string[];
  set?: Record<string, string>;
  /** More `helm template` arguments (--skip-tests, --kube-version, --api-versions). */
  args?: string[];
}

/** A rendered Kubernetes object, loosely typed: tests read it like the YAML they know. */
export type Manifest = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  // biome-ignore lint/suspicious/noExplicitAny: manifests are arbitrary YAML
  [key: string]: any;
};

function helmValueArgs(options: RenderOptions): string[] {
  return [
    ...(options.valuesFiles ?? []).flatMap((file) => ["-f", file]),
    ...Object.entries(options.set ?? {}).flatMap(([key, value]) => ["--set", `${key}=${value}`]),
  ];
}

export async function renderChart(helm: Helm, chartDir: string, options: RenderOptions = {}): Promise<Manifest[]> {
  const output = await helm.run([
    "template",
    options.release ?? "valkey",
    chartDir,
    "--namespace",
    options.namespace ?? "default",
    ...helmValueArgs(options),
    ...(options.args ?? []),
  ]);
  // As the API server reads manifests (YAML 1.1): `defaultMode: 0555` is octal there, not 555.
  return parseAllDocuments(output, { version: "1.1" })
    .map((doc) => doc.toJS() as Manifest | null)
    .filter((doc): doc is Manifest => doc !== null);
}

export function lintChart(helm: Helm, chartDir: string, options: RenderOptions = {}): Promise<string> {
  return helm.run(["lint", chartDir, "--namespace", options.namespace ?? "default", ...helmValueArgs(options)]);
}
