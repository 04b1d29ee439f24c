import { createHash } from "node:crypto";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse, parseAllDocuments } from "yaml";
import { listFiles } from "../files.ts";
import { cacheDir, listSetting, SettingError } from "../settings.ts";
import type { Helm } from "./helm.ts";
import { resolveUpstreamChart, UPSTREAM_CHART } from "./upstream.ts";

/** The wrapper chart as committed: charts/valkey. */
export const WRAPPER_CHART = fileURLToPath(new URL("../../charts/valkey/", import.meta.url));

interface ChartYaml {
  version: string;
  dependencies?: { name: string; version: string; repository: string }[];
}

function readChartYaml(dir = WRAPPER_CHART): ChartYaml {
  return parse(readFileSync(join(dir, "Chart.yaml"), "utf8")) as ChartYaml;
}

export function wrapperVersion(): string {
  return readChartYaml().version;
}

/** The upstream version Chart.yaml pins. */
export function pinnedUpstreamVersion(): string {
  const dependency = readChartYaml().dependencies?.find((d) => d.name === UPSTREAM_CHART);
  if (!dependency) throw new Error(`${WRAPPER_CHART}Chart.yaml has no dependency named ${UPSTREAM_CHART}`);
  return dependency.version;
}

/** Every environment with a values.<env>.yaml beside the chart, sorted. */
export function environments(): string[] {
  return readdirSync(WRAPPER_CHART)
    .map((name) => /^values\.(.+)\.yaml$/.exec(name)?.[1])
    .filter((env): env is string => !!env)
    .sort();
}

/** The environments VALKEY_ENVS names (comma-separated), or all of them. */
export function selectedEnvironments(): string[] {
  const all = environments();
  const wanted = listSetting("VALKEY_ENVS");
  if (!wanted) return all;
  const unknown = wanted.filter((env) => !all.includes(env));
  if (unknown.length > 0) {
    throw new SettingError(
      "VALKEY_ENVS",
      wanted.join(","),
      `unknown environment(s) ${unknown.join(", ")}; known: ${all.join(", ")}`,
    );
  }
  return wanted;
}

export function environmentValuesFile(env: string): string {
  const file = join(WRAPPER_CHART, `values.${env}.yaml`);
  if (!existsSync(file)) {
    throw new Error(`no values file for environment "${env}": expected ${file} (known: ${environments().join(", ")})`);
  }
  return file;
}

/**
 * A copy of the wrapper chart with the given upstream version unpacked in its charts/
 * folder and pinned in its Chart.yaml: what `helm dependency build` would produce, for
 * the pinned version and for upgrade candidates alike.
 */
export async function stageChart(helm: Helm, upstreamVersion = pinnedUpstreamVersion()): Promise<string> {
  const upstream = await resolveUpstreamChart(helm, upstreamVersion);
  const wrapperFiles = (dir: string) => (source: string) => !source.startsWith(join(dir, "charts"));
  const hash = createHash("sha256");
  for (const file of listFiles(WRAPPER_CHART).filter(wrapperFiles(WRAPPER_CHART))) {
    hash.update(file).update(readFileSync(file));
  }
  // Content-addressed, written aside and renamed into place: concurrent suites share it safely.
  const root = join(cacheDir(), "staged", `wrapper-${hash.digest("hex").slice(0, 12)}+valkey-${upstreamVersion}`);
  const staged = join(root, "valkey");
  if (existsSync(staged)) return staged;
  mkdirSync(join(cacheDir(), "staged"), { recursive: true });
  const scratch = mkdtempSync(`${root}.tmp-`);
  const chart = join(scratch, "valkey");
  cpSync(WRAPPER_CHART, chart, { recursive: true, filter: wrapperFiles(WRAPPER_CHART) });
  cpSync(upstream, join(chart, "charts", UPSTREAM_CHART), { recursive: true });
  const chartYaml = readFileSync(join(chart, "Chart.yaml"), "utf8");
  writeFileSync(
    join(chart, "Chart.yaml"),
    chartYaml.replace(/(- name: valkey\n\s+version:\s*)\S+/, `$1${upstreamVersion}`),
  );
  try {
    renameSync(scratch, root);
  } catch {
    rmSync(scratch, { recursive: true, force: true }); // another process staged it first
  }
  return staged;
}

export interface RenderOptions {
  release?: string;
  namespace?: string;
  valuesFiles?: string[];
  set?: Record<string, string>;
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
  ]);
  return parseAllDocuments(output)
    .map((doc) => doc.toJS() as Manifest | null)
    .filter((doc): doc is Manifest => doc !== null);
}

export function lintChart(helm: Helm, chartDir: string, options: RenderOptions = {}): Promise<string> {
  return helm.run(["lint", chartDir, "--namespace", options.namespace ?? "default", ...helmValueArgs(options)]);
}
