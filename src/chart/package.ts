import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { parse } from "yaml";
import { WRAPPER_CHART } from "../environments.ts";
import { listFiles } from "../files.ts";
import type { Helm } from "./helm.ts";
import { UPSTREAM_CHART } from "./upstream.ts";
import { pinnedUpstreamVersion, stageChart, wrapperVersion } from "./wrapper.ts";

/**
 * The wrapper as a product: a package holding its pinned upstream chart (what `helm
 * dependency build` and `helm package` make on a connected machine), pushed to an OCI
 * registry and pulled back from it as a team's GitOps tool or `helm install oci://…` would.
 */
export interface ChartPackage {
  file: string;
  name: string;
  version: string;
}

/** `oci://host[:port]/path/name:version`, the one spelling the harness accepts for a pushed chart. */
export interface ChartReference {
  repository: string;
  name: string;
  version: string;
  plainHttp: boolean;
}

const REFERENCE = /^oci:\/\/([a-z0-9.-]+(?::\d{1,5})?)((?:\/[a-z0-9._-]+)*)\/([a-z0-9._-]+):([0-9A-Za-z.+_-]+)$/;

/** Parses `oci://host[:port]/path/name:version`; undefined when it is not written so. */
export function parseChartReference(reference: string): ChartReference | undefined {
  const match = REFERENCE.exec(reference);
  if (!match) return undefined;
  const [, host = "", path = "", name = "", version = ""] = match;
  return {
    repository: `oci://${host}${path}`,
    name,
    version,
    // A registry on this machine (npm run registry -- up) speaks plain HTTP; any other needs TLS.
    plainHttp: /^(127\.0\.0\.1|localhost)(:\d+)?$/.test(host),
  };
}

export function formatChartReference(reference: ChartReference): string {
  return `${reference.repository}/${reference.name}:${reference.version}`;
}

/** Packages the wrapper with its pinned upstream chart inside into `destination`. */
export async function packageChart(helm: Helm, destination: string, chartDir = WRAPPER_CHART): Promise<ChartPackage> {
  const staged = await stageChart(helm, pinnedUpstreamVersion(chartDir), chartDir);
  mkdirSync(destination, { recursive: true });
  await helm.run(["package", staged, "--destination", destination]);
  const name = (parse(readFileSync(join(staged, "Chart.yaml"), "utf8")) as { name: string }).name;
  const version = wrapperVersion(chartDir);
  const file = join(destination, `${name}-${version}.tgz`);
  if (!existsSync(file)) throw new Error(`helm package did not write ${file}`);
  return { file, name, version };
}

/** Pushes a package to an OCI repository (`oci://host[:port]/path`); returns where it now is. */
export async function pushChart(helm: Helm, pkg: ChartPackage, repository: string): Promise<ChartReference> {
  const reference = parseChartReference(`${repository.replace(/\/$/, "")}/${pkg.name}:${pkg.version}`);
  if (!reference) {
    throw new Error(
      `${repository} is not an OCI repository: write it as oci://host[:port]/path, e.g. oci://127.0.0.1:5000/charts`,
    );
  }
  await helm.run(["push", pkg.file, reference.repository, ...(reference.plainHttp ? ["--plain-http"] : [])]);
  return reference;
}

/** Pulls a pushed chart and unpacks it into `into`; returns the chart's folder. */
export async function pullChart(helm: Helm, reference: ChartReference, into: string): Promise<string> {
  await helm.run([
    "pull",
    `${reference.repository}/${reference.name}`,
    "--version",
    reference.version,
    "--untar",
    "--untardir",
    into,
    ...(reference.plainHttp ? ["--plain-http"] : []),
  ]);
  return join(into, reference.name);
}

/**
 * What differs between a pulled package and the wrapper it claims to be: its version, the
 * upstream chart it carries, and every file of the wrapper's own (templates, values, the
 * environments' files) byte for byte. Empty when the package is the chart under test.
 */
export function packageDifferences(pulled: string, chartDir = WRAPPER_CHART): string[] {
  const problems: string[] = [];
  if (wrapperVersion(pulled) !== wrapperVersion(chartDir)) {
    problems.push(`version ${wrapperVersion(pulled)}, the worktree's is ${wrapperVersion(chartDir)}`);
  }
  const upstream = join(pulled, "charts", UPSTREAM_CHART, "Chart.yaml");
  const carried = existsSync(upstream)
    ? (parse(readFileSync(upstream, "utf8")) as { version: string }).version
    : undefined;
  if (carried !== pinnedUpstreamVersion(chartDir)) {
    problems.push(`carries upstream ${carried ?? "nothing"} in charts/, the pin is ${pinnedUpstreamVersion(chartDir)}`);
  }
  const ownFiles = (dir: string) =>
    listFiles(dir)
      .map((file) => relative(dir, file))
      .filter((file) => !file.startsWith("charts/") && file !== "Chart.yaml");
  for (const file of ownFiles(pulled)) {
    const mine = join(chartDir, file);
    if (!existsSync(mine)) problems.push(`${file} is not in the worktree's chart`);
    else if (!readFileSync(mine).equals(readFileSync(join(pulled, file))))
      problems.push(`${file} differs from the worktree's`);
  }
  return problems;
}
