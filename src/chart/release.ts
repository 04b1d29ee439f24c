import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse, stringify } from "yaml";
import type { ClusterClient } from "../cluster/client.ts";
import { PortForwardServer } from "../kube/forward.ts";
import { isPodReady, statusCode, waitFor } from "../kube/index.ts";
import { cacheDir } from "../settings.ts";
import { type Endpoint, rawPing } from "../valkey/index.ts";
import type { Helm } from "./helm.ts";
import { offlineImageValues } from "./upstream.ts";
import { environmentValuesFile, pinnedUpstreamVersion, stageChart, WRAPPER_CHART } from "./wrapper.ts";

export const OVERLAYS = fileURLToPath(new URL("../../fixtures/overlays/", import.meta.url));

// biome-ignore lint/suspicious/noExplicitAny: Helm values are arbitrary YAML
export type Values = Record<string, any>;

/** Helm's coalescing of values files: maps merge, anything else replaces, null deletes. */
export function mergeValues(base: Values, override: Values): Values {
  const merged: Values = { ...base };
  for (const [key, value] of Object.entries(override)) {
    if (value === null) delete merged[key];
    else if (isMap(value) && isMap(merged[key])) merged[key] = mergeValues(merged[key], value);
    else merged[key] = value;
  }
  return merged;
}

function isMap(value: unknown): value is Values {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function readValues(file: string): Values {
  return (parse(readFileSync(file, "utf8")) as Values | null) ?? {};
}

/** The overlay files the harness layers on an environment for its test cluster. */
export function overlayFiles(env: string): string[] {
  return [join(OVERLAYS, "_default.yaml"), join(OVERLAYS, `${env}.yaml`)].filter((file) => existsSync(file));
}

/** The chart's defaults, the environment's file and the test overlays, merged as Helm merges them. */
export function layeredValues(env: string, extraValuesFiles: string[] = []): Values {
  return [join(WRAPPER_CHART, "values.yaml"), environmentValuesFile(env), ...overlayFiles(env), ...extraValuesFiles]
    .map(readValues)
    .reduce(mergeValues, {});
}

export interface InstallOptions {
  env: string;
  namespace: string;
  release?: string;
  upstreamVersion?: string;
  /** Further values files, layered last (e.g. a deliberately broken value). */
  extraValuesFiles?: string[];
  timeoutSeconds?: number;
  log?: (line: string) => void;
}

export class InstallError extends Error {
  constructor(summary: string, details: string) {
    super(`${summary}\n${details}`);
    this.name = "InstallError";
  }
}

interface ReleaseInit {
  helm: Helm;
  cluster: ClusterClient;
  name: string;
  namespace: string;
  env: string;
  upstreamVersion: string;
  valuesFiles: string[];
  values: Values;
  credentials: Record<string, string>;
  adaptations: string[];
}

/** A release of the wrapper chart installed on the cluster, and what the checks need to reach it. */
export class Release {
  readonly helm: Helm;
  readonly cluster: ClusterClient;
  readonly name: string;
  readonly namespace: string;
  readonly env: string;
  readonly upstreamVersion: string;
  readonly valuesFiles: string[];
  /** What Helm says the release runs with (`helm get values --all`). */
  values: Values;
  /** Passwords the harness generated for the environment's users Secret. */
  readonly credentials: Record<string, string>;
  /** Changes the harness made to fit the cluster, in words (they go into reports). */
  readonly adaptations: string[];
  installSeconds: number;
  private forwards = new Map<string, PortForwardServer>();

  constructor(init: ReleaseInit) {
    this.helm = init.helm;
    this.cluster = init.cluster;
    this.name = init.name;
    this.namespace = init.namespace;
    this.env = init.env;
    this.upstreamVersion = init.upstreamVersion;
    this.valuesFiles = init.valuesFiles;
    this.values = init.values;
    this.credentials = init.credentials;
    this.adaptations = init.adaptations;
    this.installSeconds = 0;
  }

  /** Name of the upstream chart's objects (StatefulSet, Services). */
  get fullname(): string {
    const name = this.values.valkey?.nameOverride || "valkey";
    if (this.values.valkey?.fullnameOverride) return this.values.valkey.fullnameOverride;
    return this.name.includes(name) ? this.name : `${this.name}-${name}`;
  }

  get selector(): Record<string, string> {
    return {
      "app.kubernetes.io/name": this.values.valkey?.nameOverride || "valkey",
      "app.kubernetes.io/instance": this.name,
    };
  }

  get replicas(): number {
    return Number(this.values.valkey.replica.replicas);
  }

  podName(index: number): string {
    return `${this.fullname}-${index}`;
  }

  /** Credentials of the application user (`default`), when authentication is on. */
  get clientCredentials(): { username?: string; password?: string } {
    if (!this.values.valkey?.auth?.enabled) return {};
    return { username: "default", password: this.credentials.default };
  }

  /**
   * A host address (127.0.0.1) for the pod behind the primary Service, or for one pod:
   * a port-forward through the API server, so it works on any cluster and whatever
   * NetworkPolicy is in force. Waits until a PING gets an answer through it.
   */
  async endpoint(target: "primary" | number): Promise<Endpoint> {
    const key = String(target);
    let forward = this.forwards.get(key);
    if (!forward) {
      const pod = target === "primary" ? () => this.primaryPod() : async () => this.podName(target);
      forward = await PortForwardServer.start(this.cluster.kube, this.namespace, pod, 6379);
      this.forwards.set(key, forward);
    }
    const endpoint = { host: forward.host, port: forward.port };
    await waitFor(`pod ${target} to answer PING through a port-forward`, () => rawPing(endpoint), {
      timeoutMs: 60_000,
      intervalMs: 250,
    });
    return endpoint;
  }

  /** The Ready pod the primary Service selects. */
  private async primaryPod(): Promise<string> {
    const service = await this.cluster.kube.core.readNamespacedService({
      name: this.fullname,
      namespace: this.namespace,
    });
    const selector = Object.entries(service.spec?.selector ?? {})
      .map(([label, value]) => `${label}=${value}`)
      .join(",");
    const ready = (await this.cluster.kube.pods(this.namespace, selector)).find(isPodReady);
    if (!ready?.metadata?.name) throw new Error(`no Ready pod behind Service ${this.fullname}`);
    return ready.metadata.name;
  }

  /** Closes the port-forwards opened for this release. */
  async closeEndpoints(): Promise<void> {
    await Promise.all([...this.forwards.values()].map((forward) => forward.close()));
    this.forwards.clear();
  }

  helmArgs(): string[] {
    return ["--namespace", this.namespace, "--kubeconfig", this.cluster.kubeconfigPath];
  }

  async refreshValues(): Promise<void> {
    this.values = JSON.parse(
      await this.helm.run(["get", "values", this.name, "--all", "-o", "json", ...this.helmArgs()]),
    );
  }

  /** Upgrades the release to another upstream version (or the same one) with the same values. */
  async upgrade(upstreamVersion: string, timeoutSeconds = 300): Promise<void> {
    const chart = await stageChart(this.helm, upstreamVersion);
    await runHelmInstall(this, chart, timeoutSeconds);
    await this.refreshValues();
  }

  /** Scales the StatefulSet to `pods` pods and waits until exactly those are Ready. */
  async scale(pods: number, timeoutMs = 240_000): Promise<void> {
    await this.cluster.kube.apps.replaceNamespacedStatefulSetScale({
      name: this.fullname,
      namespace: this.namespace,
      body: { metadata: { name: this.fullname, namespace: this.namespace }, spec: { replicas: pods } },
    });
    const selector = Object.entries(this.selector)
      .map(([label, value]) => `${label}=${value}`)
      .join(",");
    await waitFor(
      `${this.fullname} to run exactly ${pods} Ready pod(s)`,
      async () => {
        const all = await this.cluster.kube.pods(this.namespace, selector);
        return all.length === pods && all.every((pod) => isPodReady(pod) && !pod.metadata?.deletionTimestamp);
      },
      { timeoutMs, intervalMs: 1000 },
    );
  }

  /** Installs the release again with the same chart and values (e.g. after an uninstall). */
  async reinstall(timeoutSeconds = 300): Promise<void> {
    await runHelmInstall(this, await stageChart(this.helm, this.upstreamVersion), timeoutSeconds);
    await this.refreshValues();
  }

  /**
   * Uninstalls, then deletes the volume claims (a StatefulSet's PVCs outlive it) unless
   * `keepVolumes`, which leaves them as `helm uninstall` does.
   */
  async uninstall({ keepVolumes = false } = {}): Promise<void> {
    await this.closeEndpoints();
    await this.helm.run(["uninstall", this.name, "--wait", "--timeout", "180s", ...this.helmArgs()]).catch((error) => {
      if (!/not found/.test(String(error))) throw error;
    });
    if (keepVolumes) return;
    const claims = await this.cluster.kube.core.listNamespacedPersistentVolumeClaim({ namespace: this.namespace });
    for (const claim of claims.items) {
      await this.cluster.kube.core
        .deleteNamespacedPersistentVolumeClaim({ namespace: this.namespace, name: claim.metadata?.name ?? "" })
        .catch((error) => (statusCode(error) === 404 ? undefined : Promise.reject(error)));
    }
    await deleteRetainedVolumes(this.cluster, this.namespace);
  }

  /** Pods, events, logs of pods that are not Ready, and the values the release runs with. */
  async diagnostics(): Promise<string> {
    return [
      `--- release ${this.name} (environment ${this.env}, upstream valkey ${this.upstreamVersion}, ${this.helm})`,
      `values files: ${this.valuesFiles.join(", ")}`,
      this.adaptations.length ? `harness adaptations: ${this.adaptations.join("; ")}` : "harness adaptations: none",
      await this.cluster.kube.diagnostics(this.namespace),
      "--- values the release runs with",
      stringify(this.values),
    ].join("\n");
  }
}

/** PersistentVolumes with reclaimPolicy Retain stay after their claims; the harness removes its own. */
async function deleteRetainedVolumes(cluster: ClusterClient, namespace: string): Promise<void> {
  const volumes = await cluster.kube.core.listPersistentVolume();
  for (const volume of volumes.items) {
    if (volume.spec?.claimRef?.namespace === namespace && volume.spec.persistentVolumeReclaimPolicy === "Retain") {
      await cluster.kube.core.deletePersistentVolume({ name: volume.metadata?.name ?? "" }).catch(() => undefined);
    }
  }
}

async function runHelmInstall(release: Release, chart: string, timeoutSeconds: number): Promise<void> {
  const args = [
    "upgrade",
    "--install",
    release.name,
    chart,
    ...release.valuesFiles.flatMap((file) => ["-f", file]),
    "--wait",
    "--timeout",
    `${timeoutSeconds}s`,
    ...release.helmArgs(),
  ];
  try {
    await release.helm.run(args);
  } catch (error) {
    await release.refreshValues().catch(() => undefined);
    throw new InstallError(
      `helm upgrade --install of environment ${release.env} (upstream valkey ${release.upstreamVersion}) failed: ${error instanceof Error ? error.message : error}`,
      await release.diagnostics(),
    );
  }
}

/**
 * The Secret an environment names in valkey.auth.usersExistingSecret, as the platform's
 * secret manager would create it: a random password per ACL user, and the exporter's
 * password file when its args name one.
 */
function usersSecret(values: Values): { name: string; data: Record<string, string> } | undefined {
  const auth = values.valkey?.auth;
  if (!auth?.enabled || !auth.usersExistingSecret) return undefined;
  const data: Record<string, string> = {};
  for (const [user, spec] of Object.entries<{ passwordKey?: string }>(auth.aclUsers ?? {})) {
    data[spec?.passwordKey ?? user] = randomBytes(18).toString("base64url");
  }
  const args: string[] = values.valkey?.metrics?.exporter?.args ?? [];
  const passwordFile = args.find((arg) => arg.startsWith("--redis.password-file="))?.split("=")[1];
  if (passwordFile) {
    const user = args.find((arg) => arg.startsWith("--redis.user="))?.split("=")[1] ?? "default";
    const addr = new URL(
      args.find((arg) => arg.startsWith("--redis.addr="))?.split("=")[1] ?? "redis://localhost:6379",
    );
    addr.username = user; // the exporter looks passwords up by the address with --redis.user in it
    data[passwordFile.split("/").at(-1) as string] = JSON.stringify({
      [addr.toString().replace(/\/$/, "")]: data[user],
    });
  }
  return { name: auth.usersExistingSecret, data };
}

/** Cloud storage drivers -> the provisioner that stands in for them on the test cluster. */
export function standInProvisioners(): Record<string, string> {
  return readValues(join(OVERLAYS, "provisioners.yaml")) as Record<string, string>;
}

/**
 * Fails at once, instead of after Helm's timeout, when no StorageClass of the cluster
 * uses the provisioner: the environment's volumes would stay Pending.
 */
async function requireServedProvisioner(cluster: ClusterClient, provisioner: string, env: string): Promise<void> {
  const classes = await cluster.kube.storage.listStorageClass();
  const served = new Set(
    classes.items.filter((c) => !c.metadata?.labels?.["app.kubernetes.io/instance"]).map((c) => c.provisioner),
  );
  if (!served.has(provisioner)) {
    throw new InstallError(
      `storageClass.provisioner "${provisioner}" (values.${env}.yaml) is not served by this cluster, whose provisioners are: ${[...served].join(", ") || "none"}.`,
      "Its volumes would stay Pending and no pod would start. Fix the provisioner's name; if it is a real driver of your platform, add it to fixtures/overlays/provisioners.yaml with the test cluster's stand-in.",
    );
  }
}

/** Installs an environment's values into a namespace and waits until every pod is Ready. */
export async function installRelease(helm: Helm, cluster: ClusterClient, options: InstallOptions): Promise<Release> {
  const log = options.log ?? console.log;
  const upstreamVersion = options.upstreamVersion ?? pinnedUpstreamVersion();
  const name = options.release ?? "valkey";
  const chart = await stageChart(helm, upstreamVersion);
  const layered = [
    environmentValuesFile(options.env),
    ...overlayFiles(options.env),
    ...(options.extraValuesFiles ?? []),
  ];
  let values = layeredValues(options.env, options.extraValuesFiles);

  const adaptations: string[] = [];
  const fit: Values = {};
  const images = cluster.info.images;
  if (images) {
    fit.valkey = offlineImageValues(images);
    adaptations.push(`offline images ${images.valkey} and ${images.exporter}`);
  }
  const provisioner: string | undefined = values.storageClass?.provisioner;
  const standIn = provisioner ? standInProvisioners()[provisioner] : undefined;
  if (values.storageClass?.create && provisioner && standIn && standIn !== provisioner) {
    fit.storageClass = { provisioner: standIn };
    adaptations.push(`provisioner ${provisioner} served by ${standIn}`);
  }
  if (values.storageClass?.create) await requireServedProvisioner(cluster, standIn ?? provisioner ?? "", options.env);

  const pods = Number(values.valkey?.replica?.replicas ?? 0) + 1;
  const nodes = (await cluster.kube.core.listNode()).items.length;
  const required = values.valkey?.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
  if (required && nodes < pods) {
    fit.valkey = mergeValues(fit.valkey ?? {}, {
      affinity: {
        podAntiAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: null,
          preferredDuringSchedulingIgnoredDuringExecution: required.map((term: Values) => ({
            weight: 100,
            podAffinityTerm: term,
          })),
        },
      },
    });
    adaptations.push(`required pod anti-affinity relaxed to preferred: ${pods} pods, ${nodes} node(s)`);
  }
  const dir = join(cacheDir(), "values");
  mkdirSync(dir, { recursive: true });
  const fitFile = join(dir, `${options.namespace}-${name}-fit.yaml`);
  writeFileSync(fitFile, stringify(fit));
  values = mergeValues(values, fit);

  const secret = usersSecret(values);
  const credentials = secret?.data ?? {};
  if (secret) {
    await cluster.kube.core.createNamespacedSecret({
      namespace: options.namespace,
      body: { metadata: { name: secret.name }, stringData: secret.data },
    });
  }

  const release = new Release({
    helm,
    cluster,
    name,
    namespace: options.namespace,
    env: options.env,
    upstreamVersion,
    valuesFiles: [...layered, fitFile],
    values,
    credentials,
    adaptations,
  });
  for (const adaptation of adaptations) log(`[install ${options.env}] harness adaptation: ${adaptation}`);
  const started = performance.now();
  await runHelmInstall(release, chart, options.timeoutSeconds ?? 300);
  release.installSeconds = (performance.now() - started) / 1000;
  await release.refreshValues();
  log(
    `[install ${options.env}] ${helm} installed upstream valkey ${upstreamVersion} in ${release.installSeconds.toFixed(1)} s`,
  );
  return release;
}
