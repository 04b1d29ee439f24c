import { existsSync, readdirSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { environments, mutationIds, persistenceProfiles } from "./environments.ts";

/**
 * Every VALKEY_* environment variable the harness reads, parsed and validated here and
 * nowhere else. An invalid value is an error wherever the harness runs (never a skip):
 * the message names the variable, what it got, and what it accepts.
 */
export class SettingError extends Error {
  constructor(variable: string, value: string, expected: string) {
    super(`${variable}=${JSON.stringify(value)} is not valid: ${expected}`);
    this.name = "SettingError";
  }
}

/** Thrown by a parser with what the setting accepts; wrapped into a SettingError. */
class Invalid extends Error {}

interface Spec<T> {
  /** What the variable accepts, in words (the README's settings table). */
  accepts: string;
  /** The default, in words. */
  default: string;
  description: string;
  parse: (raw: string) => T;
  fallback: () => T;
}

const spec = <T>(s: Spec<T>): Spec<T> => s;

/** A whole number written in decimal digits only: `1e0`, `0x3`, `2.0`, ` 2` are refused. */
function wholeNumber(min: number, max: number) {
  return (raw: string): number => {
    const value = Number(raw);
    if (!/^[0-9]+$/.test(raw) || value < min || value > max) {
      throw new Invalid(`use a whole number from ${min} to ${max}, written in digits`);
    }
    return value;
  };
}

function choice<T extends string>(choices: readonly T[]) {
  return (raw: string): T => {
    if (!(choices as readonly string[]).includes(raw)) throw new Invalid(`use one of ${choices.join(", ")}`);
    return raw as T;
  };
}

function list(raw: string): string[] {
  const items = raw.split(",").map((item) => item.trim());
  if (items.some((item) => item === "")) throw new Invalid("give a comma-separated list without empty items");
  return items;
}

function environmentList(raw: string): string[] {
  const wanted = list(raw);
  const known = environments();
  const unknown = wanted.filter((env) => !known.includes(env));
  if (unknown.length > 0) {
    throw new Invalid(
      `unknown environment(s) ${unknown.join(", ")}; known: ${known.join(", ")} (charts/valkey/values.<env>.yaml)`,
    );
  }
  return wanted;
}

function mutationList(raw: string): string[] {
  const wanted = list(raw);
  const known = mutationIds();
  const unknown = wanted.filter((id) => !known.includes(id));
  if (unknown.length > 0)
    throw new Invalid(`unknown mutation(s) ${unknown.join(", ")}; known: ${known.join(", ")} (fixtures/mutations/)`);
  return wanted;
}

function profileList(raw: string): string[] {
  const wanted = list(raw);
  const known = persistenceProfiles();
  const unknown = wanted.filter((p) => !known.includes(p));
  if (unknown.length > 0) {
    throw new Invalid(
      `unknown persistence profile(s) ${unknown.join(", ")}; known: ${known.join(", ")} (fixtures/persistence/)`,
    );
  }
  return wanted;
}

export const SEMVER = /^\d+\.\d+\.\d+(-[\w.]+)?$/;

function versionList(raw: string): string[] {
  const versions = list(raw);
  const bad = versions.filter((v) => !SEMVER.test(v));
  if (bad.length > 0) throw new Invalid(`${bad.join(", ")}: give upstream chart versions such as 0.9.4`);
  return versions;
}

/** A version, `worktree`, or something git may resolve (checked when the suite resolves it, with git's answer). */
function revisionSpec(raw: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._/~^@{}-]*$/.test(raw)) {
    throw new Invalid("give an upstream chart version (0.9.4), `worktree`, or a git ref (main, v1.2.0, a commit)");
  }
  return raw;
}

function existingFile(raw: string): string {
  if (!existsSync(raw)) throw new Invalid("no such file: point it at a readable file");
  return resolve(raw);
}

function flag(raw: string): boolean {
  if (/^(1|true|yes)$/i.test(raw)) return true;
  if (/^(0|false|no)$/i.test(raw)) return false;
  throw new Invalid("use 1/true/yes or 0/false/no");
}

function nonEmpty(raw: string): string {
  if (raw.trim() !== raw || raw === "") throw new Invalid("give a value without surrounding spaces");
  return raw;
}

/** The Kubernetes releases the offline node image can be built for: fixtures/images/releases/<release>.env. */
export function kubernetesReleases(): string[] {
  const dir = fileURLToPath(new URL("../fixtures/images/releases/", import.meta.url));
  return readdirSync(dir)
    .filter((file) => file.endsWith(".env"))
    .map((file) => file.slice(0, -".env".length))
    .sort((a, b) => Number(a.split(".")[1]) - Number(b.split(".")[1]));
}

function kubernetesRelease(raw: string): string {
  if (!kubernetesReleases().includes(raw)) {
    throw new Invalid(`use one of ${kubernetesReleases().join(", ")} (fixtures/images/releases/<release>.env)`);
  }
  return raw;
}

const SPECS = {
  VALKEY_REPORTS_DIR: spec({
    accepts: "a folder",
    default: "reports/ of the repository",
    description: "Where the suites and commands write their reports (JSON, Markdown, HTML, PNG)",
    parse: (raw) => resolve(nonEmpty(raw)),
    fallback: () => fileURLToPath(new URL("../reports/", import.meta.url)),
  }),
  VALKEY_HARNESS_CACHE: spec({
    accepts: "a folder",
    default: "~/.cache/valkey-harness",
    description: "Where the harness keeps images' build outputs, upstream charts, helm binaries, staged charts",
    parse: (raw) => resolve(nonEmpty(raw)),
    fallback: () => join(homedir(), ".cache", "valkey-harness"),
  }),
  VALKEY_KUBECONFIG: spec({
    accepts: "a kubeconfig file",
    default: "unset: the harness starts its own cluster",
    description: "Run the suites against your own cluster (kind, EKS, GKE, AKS, ...)",
    parse: existingFile,
    fallback: () => undefined as string | undefined,
  }),
  VALKEY_IMAGES: spec({
    accepts: "auto, offline, registry",
    default: "auto: offline when built or buildable here (Go, gcc, debootstrap), else a registry",
    description:
      "Where the cluster's node image and the workload images come from: built offline and imported by every node, or pulled from a registry (VALKEY_REGISTRY, else rancher/k3s and the chart's own images from the public registries)",
    parse: choice(["auto", "offline", "registry"] as const),
    fallback: () => "auto" as const,
  }),
  VALKEY_REGISTRY: spec({
    accepts: "host:port of a registry, e.g. 127.0.0.1:5000",
    default: "unset: the public registries",
    description:
      "A registry holding the harness's images under their own names (npm run registry -- up fills one on 127.0.0.1); used when the images come from a registry, and on a cluster of your own (VALKEY_KUBECONFIG) as the registry its nodes pull the harness's images (and the benchmark's generator image) from",
    parse: (raw) => {
      if (!/^[a-z0-9.-]+(:\d{1,5})?(\/[a-z0-9._/-]+)?$/.test(raw)) {
        throw new Invalid(
          "give a registry as host:port (optionally with a path), e.g. 127.0.0.1:5000, without a scheme",
        );
      }
      return raw;
    },
    fallback: () => undefined as string | undefined,
  }),
  VALKEY_KUBERNETES_VERSION: spec({
    accepts: "a Kubernetes release of fixtures/images/releases/, e.g. v1.36",
    default: "KUBERNETES_RELEASE of fixtures/images/components.env",
    description: "The Kubernetes release of the harness's cluster (its node image, etcd and CoreDNS)",
    parse: kubernetesRelease,
    fallback: () => undefined as string | undefined,
  }),
  VALKEY_KUBERNETES_VERSIONS: spec({
    accepts: "comma-separated releases of fixtures/images/releases/, or all",
    default: "the cluster's release (VALKEY_KUBERNETES_VERSION)",
    description: "The releases npm run images builds node images for (the version matrix)",
    parse: (raw) => (raw === "all" ? kubernetesReleases() : list(raw).map(kubernetesRelease)),
    fallback: () => undefined as string[] | undefined,
  }),
  VALKEY_KUBERNETES_UPGRADE_TO: spec({
    accepts: "the Kubernetes release after the cluster's, e.g. v1.36 on a v1.35 cluster",
    default: "unset: the in-place cluster upgrade does not run",
    description:
      "Upgrades the harness's cluster in place to this release, one node at a time under acknowledged writes (npm run test:cluster-upgrade)",
    parse: kubernetesRelease,
    fallback: () => undefined as string | undefined,
  }),
  VALKEY_CLUSTER_IMAGE: spec({
    accepts: "an image speaking k3s's command line, e.g. rancher/k3s:v1.35.4-k3s1",
    default: "the node image VALKEY_IMAGES chose",
    description: "Node image of the harness's cluster",
    parse: nonEmpty,
    fallback: () => undefined as string | undefined,
  }),
  VALKEY_CLUSTER_AGENTS: spec({
    accepts: "0-8",
    default: "3 (four nodes: one per pod of prod-01)",
    description: "Nodes that join the server",
    parse: wholeNumber(0, 8),
    fallback: () => 3,
  }),
  VALKEY_CLUSTER_PROFILE: spec({
    accepts: "auto, privileged, sandbox",
    default: "auto (probed once, remembered in the cache)",
    description:
      "How node containers get their rights: privileged, or every capability but SYS_RESOURCE (hosts that refuse privileged)",
    parse: choice(["auto", "privileged", "sandbox"] as const),
    fallback: () => "auto" as const,
  }),
  VALKEY_CHART: spec({
    accepts: "worktree, or oci://host[:port]/path/valkey:version",
    default: "worktree",
    description:
      "The wrapper chart the install suite installs: the worktree's charts/valkey staged with its pinned upstream, or the package pushed to an OCI registry (npm run chart:package -- --push), pulled and installed as published; it must hold the worktree's files",
    parse: (raw) => {
      if (raw === "worktree") return raw;
      if (!/^oci:\/\/[a-z0-9.-]+(:\d{1,5})?(\/[a-z0-9._-]+)*\/[a-z0-9._-]+:[0-9A-Za-z.+_-]+$/.test(raw)) {
        throw new Invalid(
          "say worktree, or give a pushed chart as oci://host[:port]/path/name:version, e.g. oci://127.0.0.1:5000/charts/valkey:2.0.0",
        );
      }
      return raw;
    },
    fallback: () => "worktree",
  }),
  VALKEY_HELM: spec({
    accepts: "auto, 4, 3, path",
    default: "auto (the helm on PATH when it is 3.17+ or 4.x, else Helm 4 as pinned)",
    description:
      "Which Helm runs: 4 or 3 as pinned in tools/helm/go.mod (built from their Go modules on first use), the helm on PATH, or auto",
    parse: choice(["auto", "4", "3", "path"] as const),
    fallback: () => "auto" as const,
  }),
  VALKEY_FIT_RESOURCES: spec({
    accepts: "auto, scale, as-written",
    default: "auto (scale on the harness's own cluster, or when the nodes cannot hold the requests)",
    description: "Whether resource requests are scaled down to fit the cluster (fixtures/fit/rules.yaml)",
    parse: choice(["auto", "scale", "as-written"] as const),
    fallback: () => "auto" as const,
  }),
  VALKEY_FIT_VOLUMES: spec({
    accepts: "scale, as-written",
    default: "scale",
    description: "Whether volume sizes are scaled down (fixtures/fit/rules.yaml)",
    parse: choice(["scale", "as-written"] as const),
    fallback: () => "scale" as const,
  }),
  VALKEY_FIT_PROVISIONERS: spec({
    accepts: "stand-in, as-written",
    default: "stand-in",
    description:
      "stand-in: a cloud driver the cluster does not serve is served by its stand-in (fixtures/fit/rules.yaml); as-written: never, the install fails instead (proof that a cluster serves every environment's driver)",
    parse: choice(["stand-in", "as-written"] as const),
    fallback: () => "stand-in" as const,
  }),
  VALKEY_FIT_SPREAD: spec({
    accepts: "relax, as-written",
    default: "relax",
    description:
      "relax: a required pod anti-affinity with more pods than nodes becomes preferred, so the environment runs on a small cluster; as-written: kept, and the rollout stops at the scheduler's reason",
    parse: choice(["relax", "as-written"] as const),
    fallback: () => "relax" as const,
  }),
  VALKEY_ENVS: spec({
    accepts: "comma-separated environments",
    default: "all",
    description: "Environments the install and mutation suites install",
    parse: environmentList,
    fallback: () => environments(),
  }),
  VALKEY_GITOPS_ENVS: spec({
    accepts: "comma-separated environments, or none",
    default: "prod-01 when VALKEY_ENVS includes it",
    description:
      "Environments the install suite also delivers the GitOps way (helm template for the cluster, server-side apply, no Helm release) and runs every check against",
    parse: (raw: string) => (raw.trim() === "none" ? [] : environmentList(raw)),
    fallback: (): string[] =>
      (process.env.VALKEY_ENVS ? environmentList(process.env.VALKEY_ENVS) : environments()).includes("prod-01")
        ? ["prod-01"]
        : [],
  }),
  VALKEY_MUTATIONS: spec({
    accepts: "comma-separated mutation ids (fixtures/mutations/<id>.yaml)",
    default: "all",
    description: "Mutations the mutation suite installs (of the environments in VALKEY_ENVS)",
    parse: mutationList,
    fallback: () => mutationIds(),
  }),
  VALKEY_FAILOVER_ENVS: spec({
    accepts: "comma-separated environments",
    default: "dev-01",
    description: "Environments the failover and durability suites break",
    parse: environmentList,
    fallback: () => ["dev-01"],
  }),
  VALKEY_ALERT_ENVS: spec({
    accepts: "comma-separated environments, or none",
    default: "dev-01",
    description:
      "Environments of VALKEY_FAILOVER_ENVS whose chart alerts the failover suite fires in a real Prometheus (prod-01's took 6.5 min of the full tier; its rules are the same chart's)",
    parse: (raw: string) => (raw.trim() === "none" ? [] : environmentList(raw)),
    fallback: () => ["dev-01"],
  }),
  VALKEY_DURABILITY_PROFILES: spec({
    accepts: "comma-separated persistence profiles (fixtures/persistence/)",
    default: "all of them",
    description: "Profiles the crash scenarios of the failover suite run against",
    parse: profileList,
    fallback: () => persistenceProfiles(),
  }),
  VALKEY_NODE_CRASH_PROFILES: spec({
    accepts: "comma-separated persistence profiles",
    default: "aof-everysec (the wrapper's default)",
    description: "Profiles the node-crash scenarios run against (each crash runs alone)",
    parse: profileList,
    fallback: () => ["aof-everysec"],
  }),
  VALKEY_UPGRADE_ENVS: spec({
    accepts: "comma-separated environments",
    default: "dev-01",
    description: "Environments the upgrade suite upgrades",
    parse: environmentList,
    fallback: () => ["dev-01"],
  }),
  VALKEY_UPGRADE_CANDIDATES: spec({
    accepts: "comma-separated upstream chart versions",
    default: "every cached upstream version newer than the pin",
    description: "Candidate upstream versions of the upgrade matrix",
    parse: versionList,
    fallback: () => undefined as string[] | undefined,
  }),
  VALKEY_UPGRADE_FROM: spec({
    accepts: "an upstream chart version (0.9.4) or a git ref of this repository (main, a tag, a commit)",
    default: "unset: the walk from the pin through every candidate",
    description:
      "The revision an upgrade starts from: a version means the working tree's wrapper with that pin; a git ref, the wrapper (pin, values, templates) as committed there. Needs VALKEY_UPGRADE_TO",
    parse: revisionSpec,
    fallback: () => undefined as string | undefined,
  }),
  VALKEY_UPGRADE_TO: spec({
    accepts: "an upstream chart version or a git ref of this repository; `worktree` for the working tree",
    default: "unset (see VALKEY_UPGRADE_FROM)",
    description: "The revision an upgrade goes to; with VALKEY_UPGRADE_FROM, each environment makes this one hop",
    parse: revisionSpec,
    fallback: () => undefined as string | undefined,
  }),
  VALKEY_UPGRADE_PAIRS: spec({
    accepts: "1 or 0",
    default: "0",
    description:
      "Upgrade from every cached upstream version to every later one, each from a fresh install (the long matrix: npm run test:upgrade:pairs)",
    parse: flag,
    fallback: () => false,
  }),
  VALKEY_BENCH: spec({
    accepts: "1 or 0",
    default: "0 (npm run bench sets 1)",
    description: "Run the benchmark project (it is not part of npm test)",
    parse: flag,
    fallback: () => false,
  }),
  VALKEY_BENCH_ENV: spec({
    accepts: "one environment",
    default: "dev-01",
    description: "Environment the benchmark installs",
    parse: (raw) => {
      const [env, ...more] = environmentList(raw);
      if (more.length > 0) throw new Invalid("name exactly one environment");
      return env as string;
    },
    fallback: () => "dev-01",
  }),
  VALKEY_BENCH_RUNS: spec({
    accepts: "1-20",
    default: "3",
    description: "Runs per benchmark path (reports quote medians)",
    parse: wholeNumber(1, 20),
    fallback: () => 3,
  }),
  VALKEY_BENCH_RATE: spec({
    accepts: "100-1000000",
    default: "10000",
    description: "Commands per second of the open-loop cache workload",
    parse: wholeNumber(100, 1_000_000),
    fallback: () => 10_000,
  }),
  VALKEY_BENCH_WORKLOADS: spec({
    accepts: "comma-separated workload ids (cache-p16, cache-tls, ...), or all",
    default: "all",
    description: "Workloads the benchmark runs (the report holds only those)",
    parse: (raw) => {
      if (raw === "all") return undefined as string[] | undefined;
      const ids = list(raw);
      const bad = ids.find((id) => !/^[a-z0-9-]+$/.test(id));
      if (bad !== undefined)
        throw new Invalid(`${JSON.stringify(bad)} is not a workload id (lower-case words and dashes)`);
      return ids;
    },
    fallback: () => undefined as string[] | undefined,
  }),
  VALKEY_BENCH_GENERATORS: spec({
    accepts: "comma-separated counts of in-cluster generator pods (1 to 8), or none",
    default: "1,2,4",
    description:
      "The closed cache loops also run the lean generator as this many pods inside the cluster (a path per count), their histograms merged",
    parse: (raw) => {
      if (raw === "none") return [] as number[];
      const counts = list(raw).map((item) => {
        if (!/^[1-8]$/.test(item))
          throw new Invalid(`${JSON.stringify(item)} is not a count of generators from 1 to 8`);
        return Number(item);
      });
      if (new Set(counts).size !== counts.length) throw new Invalid("a count is named twice");
      return counts;
    },
    fallback: () => [1, 2, 4],
  }),
  VALKEY_CHROMIUM: spec({
    accepts: "a Chromium binary",
    default: "the first chromium on PATH",
    description: "Headless Chromium that checks the HTML reports render",
    parse: existingFile,
    fallback: () => undefined as string | undefined,
  }),
  VALKEY_PROMETHEUS_IMAGE: spec({
    accepts: "a Prometheus 3 image, e.g. prom/prometheus:v3.16.0 on a connected machine",
    default: "the offline Prometheus image",
    description: "Prometheus the monitoring checks deploy",
    parse: nonEmpty,
    fallback: () => undefined as string | undefined,
  }),
  VALKEY_HELPER_IMAGE: spec({
    accepts: "an image with busybox",
    default: "the offline busybox image, busybox:1.36 on existing clusters",
    description: "Image of the throwaway client pods the checks start",
    parse: nonEmpty,
    fallback: () => undefined as string | undefined,
  }),
} satisfies Record<string, Spec<unknown>>;

export type SettingName = keyof typeof SPECS;
export type SettingValue<N extends SettingName> = ReturnType<(typeof SPECS)[N]["fallback"]>;

/** The value of a setting: parsed and validated, or its default when unset or empty. */
export function setting<N extends SettingName>(name: N, env: NodeJS.ProcessEnv = process.env): SettingValue<N> {
  const raw = env[name];
  const current = SPECS[name] as unknown as Spec<SettingValue<N>>;
  if (raw === undefined || raw === "") return current.fallback();
  try {
    return current.parse(raw);
  } catch (error) {
    if (error instanceof Invalid) throw new SettingError(name, raw, error.message);
    throw error;
  }
}

/**
 * Checks every VALKEY_* variable of the environment at once: each must be a known setting
 * with a valid value. Throws one error listing every problem.
 */
export function checkSettings(env: NodeJS.ProcessEnv = process.env): void {
  const problems: string[] = [];
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith("VALKEY_") || raw === undefined) continue;
    if (!(name in SPECS)) {
      problems.push(`${name} is not a setting of the harness; known: ${Object.keys(SPECS).join(", ")}`);
      continue;
    }
    try {
      setting(name as SettingName, env);
    } catch (error) {
      problems.push(error instanceof Error ? error.message : String(error));
    }
  }
  if (problems.length > 0) throw new Error(`invalid settings:\n  ${problems.join("\n  ")}`);
}

/** The settings table of the README: variable, what it accepts, default, purpose. */
export function settingsTable(): string[][] {
  return Object.entries(SPECS).map(([name, s]) => [`\`${name}\``, s.accepts, s.default, s.description]);
}

/** Where the harness keeps what it builds or downloads: images, charts, helm binaries. */
export function cacheDir(): string {
  return setting("VALKEY_HARNESS_CACHE");
}

/** True under CI=true: a missing prerequisite fails instead of skipping. */
export function isCI(): boolean {
  return /^(1|true|yes)$/i.test(process.env.CI ?? "");
}
