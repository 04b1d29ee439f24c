import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fillOnce } from "../files.ts";
import type { ImageSet } from "../images/index.ts";
import { cacheDir } from "../settings.ts";
import type { Helm } from "./helm.ts";

export const UPSTREAM_REPOSITORY = "https://valkey.io/valkey-helm/";
export const UPSTREAM_CHART = "valkey";

/**
 * The offline chart cache: one folder per upstream version holding the unpacked chart,
 * <cache>/charts/valkey-<version>/valkey/Chart.yaml. `helm pull --untar` fills it on a
 * connected machine; offline it is filled by hand (docs/offline.md).
 */
export function chartCacheDir(): string {
  return join(cacheDir(), "charts");
}

export function cachedChartPath(version: string): string {
  return join(chartCacheDir(), `${UPSTREAM_CHART}-${version}`, UPSTREAM_CHART);
}

/** Upstream versions present in the cache, oldest first. */
export function cachedUpstreamVersions(): string[] {
  if (!existsSync(chartCacheDir())) return [];
  return readdirSync(chartCacheDir())
    .map((name) => /^valkey-(\d+\.\d+\.\d+.*)$/.exec(name)?.[1])
    .filter((version): version is string => !!version && existsSync(join(cachedChartPath(version), "Chart.yaml")))
    .sort(compareVersions);
}

export function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.-]/).map((part) => Number.parseInt(part, 10) || 0);
  const pb = b.split(/[.-]/).map((part) => Number.parseInt(part, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const diff = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (diff !== 0) return diff;
  }
  return 0;
}

export class UpstreamChartMissing extends Error {
  constructor(version: string, pullError: string) {
    super(
      `The upstream chart valkey ${version} is not in the chart cache (${cachedChartPath(version)}) ` +
        `and could not be pulled from ${UPSTREAM_REPOSITORY}:\n  ${pullError.trim().split("\n").slice(-2).join("\n  ")}\n` +
        "Fix: on a connected machine the harness pulls it by itself (or run " +
        `\`helm pull valkey --repo ${UPSTREAM_REPOSITORY} --version ${version} --untar --untardir ${join(chartCacheDir(), `valkey-${version}`)}\`); ` +
        `offline, unpack the chart so that ${join(cachedChartPath(version), "Chart.yaml")} exists (docs/offline.md).`,
    );
    this.name = "UpstreamChartMissing";
  }
}

/**
 * Resolves an upstream chart version to a local unpacked chart: from the cache, or by
 * pulling it into the cache.
 */
export async function resolveUpstreamChart(helm: Helm, version: string): Promise<string> {
  if (!/^\d+\.\d+\.\d+(-[\w.]+)?$/.test(version)) {
    throw new Error(`upstream chart version ${JSON.stringify(version)} is not a semantic version such as 0.9.0`);
  }
  const path = cachedChartPath(version);
  if (existsSync(join(path, "Chart.yaml"))) return path;
  const target = join(chartCacheDir(), `${UPSTREAM_CHART}-${version}`);
  try {
    // Pulled aside and renamed into place: a concurrent reader never sees a half-unpacked chart.
    await fillOnce(
      target,
      (dir) =>
        helm
          .run(
            ["pull", UPSTREAM_CHART, "--repo", UPSTREAM_REPOSITORY, "--version", version, "--untar", "--untardir", dir],
            { timeoutMs: 60_000 },
          )
          .then(() => {}),
      (dir) => existsSync(join(dir, UPSTREAM_CHART, "Chart.yaml")),
    );
  } catch (error) {
    throw new UpstreamChartMissing(version, error instanceof Error ? error.message : String(error));
  }
  return path;
}

/** `127.0.0.1:5000/valkey:9.1.2` as registry, repository and tag, the way the upstream chart's values split an image. */
export function splitImageReference(image: string): { registry: string; repository: string; tag: string } {
  const slash = image.indexOf("/");
  const first = slash < 0 ? "" : image.slice(0, slash);
  const hasRegistry = first === "localhost" || first.includes(".") || first.includes(":");
  const rest = hasRegistry ? image.slice(slash + 1) : image;
  const colon = rest.lastIndexOf(":");
  return {
    registry: hasRegistry ? first : "docker.io",
    repository: colon < 0 ? rest : rest.slice(0, colon),
    tag: colon < 0 ? "latest" : rest.slice(colon + 1),
  };
}

/**
 * Upstream chart values that run Valkey and its exporter from the harness's images:
 * imported into the nodes (never pulled), or pulled from the registry the nodes use.
 */
export function harnessImageValues(images: Pick<ImageSet, "valkey" | "exporter" | "pulledFrom">) {
  const pullPolicy = images.pulledFrom ? "IfNotPresent" : "Never";
  const reference = (image: string) => ({ ...splitImageReference(image), pullPolicy });
  return { image: reference(images.valkey), metrics: { exporter: { image: reference(images.exporter) } } };
}

export interface UpstreamInstall {
  namespace: string;
  release?: string;
  version: string;
  values: Record<string, unknown>;
  timeoutSeconds?: number;
}

/** Installs the upstream chart itself (no wrapper) and waits until its pods are Ready. */
export async function installUpstreamChart(helm: Helm, kubeconfigPath: string, install: UpstreamInstall) {
  const chart = await resolveUpstreamChart(helm, install.version);
  const dir = join(cacheDir(), "values");
  mkdirSync(dir, { recursive: true });
  const valuesFile = join(dir, `${install.namespace}-upstream-${install.version}.yaml`);
  writeFileSync(valuesFile, JSON.stringify(install.values, null, 2)); // JSON is YAML
  const timeout = install.timeoutSeconds ?? 300;
  await helm.run(
    [
      "install",
      install.release ?? "valkey",
      chart,
      "--namespace",
      install.namespace,
      "--kubeconfig",
      kubeconfigPath,
      "--values",
      valuesFile,
      "--wait",
      "--timeout",
      `${timeout}s`,
    ],
    { timeoutMs: (timeout + 60) * 1000 },
  );
}
