import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import type { Cluster } from "../cluster/index.ts";
import { environmentValuesFile, WRAPPER_CHART } from "../environments.ts";
import { scratchDir } from "../files.ts";
import { PortForwardServer } from "../kube/forward.ts";
import { isPodReady, statusCode, waitFor } from "../kube/index.ts";
import { crashLoop, refusedPodCreation, rolloutProgress, unschedulableBySpread } from "../kube/pod-state.ts";
import { cacheDir, setting } from "../settings.ts";
import { type ClientTls, type Credentials, type Endpoint, rawPing } from "../valkey/index.ts";
import { describeFit, type FitRecord, fitToCluster, InstallError } from "./fit.ts";
import { type AppliedObject, applyRendered, type Delivery, deleteApplied, keyOf } from "./gitops.ts";
import type { Helm } from "./helm.ts";
import { packageDifferences, parseChartReference, pullChart } from "./package.ts";
import { type CertificateAuthority, issueCertificate, makeCertificateAuthority, releaseDnsNames } from "./tls.ts";
import { environmentValues, mergeValues, readValuesFile, type Values } from "./values.ts";
import { pinnedUpstreamVersion, stageChart } from "./wrapper.ts";

export { InstallError } from "./fit.ts";

export interface InstallOptions {
  env: string;
  namespace: string;
  release?: string;
  /** Default: the version the wrapper's Chart.yaml pins. */
  upstreamVersion?: string;
  /** The wrapper chart to install (default charts/valkey): a mutated copy, another git revision. */
  chartDir?: string;
  /**
   * The wrapper chart whose values.yaml and values.<env>.yaml say what the environment asks
   * for (default: `chartDir`). A mutated copy is installed, but the checks still expect
   * what the committed chart declares.
   */
  declaredChartDir?: string;
  /**
   * Values layers that belong to what the release asks for (fixtures/profiles/, e.g. TLS):
   * installed after the environment's file, and expected by the checks, unlike extraValuesFiles.
   */
  profiles?: string[];
  /** Values files layered after the environment's (mutations, persistence profiles). */
  extraValuesFiles?: string[];
  /** `helm upgrade --install` (default), or rendered with `helm template` and applied server-side (GitOps). */
  delivery?: Delivery;
  timeoutSeconds?: number;
  log?: (line: string) => void;
}

/** What a release runs: kept before an upgrade, restored after a rollback. */
export interface ReleaseState {
  upstreamVersion: string;
  chartDir: string;
  declaredChartDir: string;
  valuesFiles: string[];
  declared: Values;
  fit: FitRecord;
}

/** What the harness made for a release that serves TLS: the CA clients trust, and a client certificate it signed. */
export interface ReleaseTls {
  ca: string;
  client: { cert: string; key: string };
  /** The CA that signed them, to issue a rotated server certificate from. */
  authority: CertificateAuthority;
}

/** Name of the upstream chart's objects (StatefulSet, Services) for a release, as upstream computes it. */
export function upstreamFullname(release: string, values: Values): string {
  const name = values.valkey?.nameOverride || "valkey";
  if (values.valkey?.fullnameOverride) return values.valkey.fullnameOverride;
  return release.includes(name) ? release : `${release}-${name}`;
}

/** What a release asks for: the environment's values with its profiles on top (never its mutations). */
export function declaredValues(env: string, chartDir: string, profiles: readonly string[]): Values {
  return profiles.map(readValuesFile).reduce(mergeValues, environmentValues(env, chartDir));
}

/**
 * The Secret valkey.tls.existingSecret names, as a certificate manager would make it: a CA
 * and a server certificate for every address of the release, under the keys the values
 * name (serverPublicKey, serverKey, caPublicKey).
 */
async function createTlsSecret(cluster: Cluster, namespace: string, values: Values, fullname: string) {
  const tls = values.valkey.tls;
  if (!tls.existingSecret)
    throw new Error(
      "valkey.tls.enabled is true but valkey.tls.existingSecret names no Secret: name the Secret that holds the certificates",
    );
  const ca = await makeCertificateAuthority();
  const server = await issueCertificate(ca, "server", releaseDnsNames(fullname, namespace));
  const client = await issueCertificate(ca, "client", ["valkey-harness-client"], "client");
  await cluster.kube.core.createNamespacedSecret({
    namespace,
    body: {
      metadata: { name: tls.existingSecret },
      type: "Opaque",
      stringData: {
        [tls.serverPublicKey ?? "server.crt"]: server.cert,
        [tls.serverKey ?? "server.key"]: server.key,
        [tls.caPublicKey ?? "ca.crt"]: ca.cert,
      },
    },
  });
  return { ca: ca.cert, client, authority: ca };
}

/** A release of the wrapper chart installed on the cluster, and what the checks need to reach it. */
export class Release {
  readonly helm: Helm;
  readonly cluster: Cluster;
  readonly name: string;
  readonly namespace: string;
  readonly env: string;
  upstreamVersion: string;
  /** The chart installed (a staged copy of `chartDir` with its upstream chart). */
  chartDir: string;
  /** Where the environment's declared values come from. */
  declaredChartDir: string;
  /** Values files given to Helm, in order (the chart's own values.yaml comes first implicitly). */
  valuesFiles: string[];
  /** What the environment asks for: values.yaml + values.<env>.yaml, merged by the harness. */
  declared: Values;
  /** What the harness changed to fit the cluster. */
  fit: FitRecord;
  /** Passwords the harness generated for the environment's users Secret. */
  readonly credentials: Record<string, string>;
  /** Declared values layers on top of the environment's file (InstallOptions.profiles). */
  readonly profiles: string[];
  /** The CA clients trust and the client certificate, when the release serves TLS. */
  tls?: ReleaseTls;
  installSeconds = 0;
  /** How the release reaches the cluster; a GitOps release has no Helm release, only the objects it applied. */
  readonly delivery: Delivery;
  applied: AppliedObject[] = [];
  private forwards = new Map<string, PortForwardServer>();

  constructor(init: {
    helm: Helm;
    cluster: Cluster;
    name: string;
    namespace: string;
    env: string;
    upstreamVersion: string;
    chartDir: string;
    declaredChartDir: string;
    valuesFiles: string[];
    fit: FitRecord;
    credentials: Record<string, string>;
    profiles?: string[];
    tls?: ReleaseTls;
    delivery?: Delivery;
  }) {
    this.helm = init.helm;
    this.cluster = init.cluster;
    this.name = init.name;
    this.namespace = init.namespace;
    this.env = init.env;
    this.upstreamVersion = init.upstreamVersion;
    this.chartDir = init.chartDir;
    this.declaredChartDir = init.declaredChartDir;
    this.valuesFiles = init.valuesFiles;
    this.profiles = init.profiles ?? [];
    this.declared = declaredValues(init.env, init.declaredChartDir, this.profiles);
    this.fit = init.fit;
    this.credentials = init.credentials;
    this.tls = init.tls;
    this.delivery = init.delivery ?? "helm";
  }

  /** The fit in words (for logs and reports). */
  get adaptations(): string[] {
    return describeFit(this.fit);
  }

  /** Name of the upstream chart's objects (StatefulSet, Services), as upstream computes it. */
  get fullname(): string {
    return upstreamFullname(this.name, this.declared);
  }

  get selector(): Record<string, string> {
    return {
      "app.kubernetes.io/name": this.declared.valkey?.nameOverride || "valkey",
      "app.kubernetes.io/instance": this.name,
    };
  }

  get labelSelector(): string {
    return Object.entries(this.selector)
      .map(([label, value]) => `${label}=${value}`)
      .join(",");
  }

  /** Replicas the environment declares (the StatefulSet runs one more pod, the primary). */
  get replicas(): number {
    return Number(this.declared.valkey.replica.replicas);
  }

  podName(index: number): string {
    return `${this.fullname}-${index}`;
  }

  /** How the harness's clients log in (as `default` when authentication is on) and speak TLS (when the release serves it). */
  get clientCredentials(): Credentials {
    const tls = this.clientTls;
    if (!this.declared.valkey?.auth?.enabled) return tls ? { tls } : {};
    return { username: "default", password: this.credentials.default, ...(tls ? { tls } : {}) };
  }

  /**
   * How a client speaks TLS to the release, when it serves TLS only: the release's CA, the
   * primary Service's name (the certificate names every Service and pod), and the client
   * certificate where the environment requires one.
   */
  get clientTls(): ClientTls | undefined {
    if (!this.tls || !this.declared.valkey?.tls?.enabled) return undefined;
    const requireCertificate = !!this.declared.valkey.tls.requireClientCertificate;
    return {
      ca: this.tls.ca,
      servername: `${this.fullname}.${this.namespace}.svc.cluster.local`,
      ...(requireCertificate ? { cert: this.tls.client.cert, key: this.tls.client.key } : {}),
    };
  }

  /**
   * A host address (127.0.0.1) for the pod behind the primary Service, or for one pod:
   * a port-forward through the API server, so it works on any cluster and whatever
   * NetworkPolicy is in force. Waits until a PING gets an answer through it.
   */
  async endpoint(target: "primary" | number, timeoutMs = 60_000): Promise<Endpoint> {
    if (typeof target === "number") {
      const exists = await this.cluster.kube.core
        .readNamespacedPod({ namespace: this.namespace, name: this.podName(target) })
        .then(
          () => true,
          (error) => (statusCode(error) === 404 ? false : Promise.reject(error)),
        );
      if (!exists) throw new Error(`pod ${target} of ${this.env} (${this.podName(target)}) does not exist`);
    }
    const key = String(target);
    let forward = this.forwards.get(key);
    if (!forward) {
      const pod = target === "primary" ? () => this.primaryPod() : async () => this.podName(target);
      forward = await PortForwardServer.start(() => this.cluster.kube, this.namespace, pod, 6379);
      this.forwards.set(key, forward);
    }
    const endpoint = { host: forward.host, port: forward.port };
    await waitFor(
      `pod ${target} of ${this.env} to answer PING through a port-forward`,
      () => rawPing(endpoint, 3_000, this.clientTls),
      {
        timeoutMs,
        intervalMs: 250,
      },
    );
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

  /** What Helm says the release runs with (`helm get values --all`): for diagnostics, never for expectations. */
  async helmValues(): Promise<Values> {
    if (this.delivery === "gitops") throw new Error("a GitOps release has no Helm release: see the values files");
    return JSON.parse(await this.helm.run(["get", "values", this.name, "--all", "-o", "json", ...this.helmArgs()]));
  }

  /** What the release runs now, to return to after a rollback (`restore`). */
  snapshot(): ReleaseState {
    return {
      upstreamVersion: this.upstreamVersion,
      chartDir: this.chartDir,
      declaredChartDir: this.declaredChartDir,
      valuesFiles: [...this.valuesFiles],
      declared: this.declared,
      fit: this.fit,
    };
  }

  restore(state: ReleaseState): void {
    Object.assign(this, { ...state, valuesFiles: [...state.valuesFiles] });
  }

  /**
   * What the release would run with another upstream version and/or another wrapper
   * revision (values, templates), without touching the cluster or this object: the
   * environment's file is taken from the new `chartDir`, which then also declares what the
   * checks expect, and the fit is made again. `restore` it to switch; `chart` is the staged
   * chart to render or install.
   */
  async target(
    options: { upstreamVersion?: string; chartDir?: string } = {},
  ): Promise<ReleaseState & { chart: string }> {
    const state = this.snapshot();
    const chartDir = options.chartDir ?? this.chartDir;
    state.upstreamVersion = options.upstreamVersion ?? this.upstreamVersion;
    if (chartDir !== this.chartDir) {
      const oldEnvFile = environmentValuesFile(this.env, this.chartDir);
      const extra = this.valuesFiles.filter((file) => file !== oldEnvFile && file !== this.fitFile);
      const declared = declaredValues(this.env, chartDir, this.profiles);
      const installed = extra.map(readValuesFile).reduce(mergeValues, environmentValues(this.env, chartDir));
      const fit = await writeFit(this.cluster, installed, this.env, this.namespace, this.name);
      Object.assign(state, {
        valuesFiles: [environmentValuesFile(this.env, chartDir), ...extra, fit.file],
        fit: fit.record,
        chartDir,
        declaredChartDir: chartDir,
        declared,
      });
    }
    return { ...state, chart: await stageChart(this.helm, state.upstreamVersion, state.chartDir) };
  }

  /** The harness's fit values file (the last values layer). */
  private get fitFile(): string | undefined {
    return this.valuesFiles.at(-1);
  }

  /**
   * Upgrades the release to another upstream version and/or another wrapper revision,
   * with the same values files (the environment's file taken from `chartDir`).
   */
  async upgrade(options: { upstreamVersion?: string; chartDir?: string; timeoutSeconds?: number } = {}) {
    const { chart, ...state } = await this.target(options);
    this.restore(state);
    await runHelmInstall(this, chart, options.timeoutSeconds);
  }

  /** `helm rollback` to a revision, then the harness's own readiness wait. */
  async rollback(revision: number, timeoutSeconds = 300): Promise<void> {
    await this.helm.run([
      "rollback",
      this.name,
      String(revision),
      "--timeout",
      `${timeoutSeconds}s`,
      ...this.helmArgs(),
    ]);
    await this.waitReady(timeoutSeconds * 1000);
  }

  /** Helm's revision number of the release now. */
  async revision(): Promise<number> {
    const history = JSON.parse(await this.helm.run(["history", this.name, "-o", "json", ...this.helmArgs()])) as {
      revision: number;
    }[];
    return Math.max(...history.map((h) => h.revision));
  }

  /**
   * Waits until the StatefulSet has rolled out: every pod of the current revision exists
   * and is Ready (what `helm --wait` waits for, with a message that names what is missing).
   */
  async waitReady(
    timeoutMs = 300_000,
    log?: (line: string) => void,
    // Pods refused since then stop the wait (event times have a second's resolution).
    since = refusalsFromNow(),
  ): Promise<void> {
    let last = "";
    let said = "";
    let saidAt = 0;
    const started = performance.now();
    let eventsReadAt = 0;
    const what = `${this.fullname} in ${this.namespace} to roll out with every pod Ready`;
    const outcome = await waitFor(
      what,
      async () => {
        const set = await this.cluster.kube.apps.readNamespacedStatefulSet({
          name: this.fullname,
          namespace: this.namespace,
        });
        const want = set.spec?.replicas ?? 0;
        const s = set.status;
        last = `${s?.readyReplicas ?? 0}/${want} Ready, ${s?.updatedReplicas ?? 0} updated, revision ${s?.currentRevision} -> ${s?.updateRevision}`;
        const pods = await this.cluster.kube.pods(this.namespace, this.labelSelector);
        // A container that keeps crashing will not become Ready, nor a pod no node may take
        // under its required spread: say so now, not at the timeout.
        const crash = crashLoop(pods) ?? unschedulableBySpread(pods, new Date());
        if (crash) return { crash };
        // Nor will a pod that admission refuses to create (the controller retries forever).
        if (pods.length < want && performance.now() - eventsReadAt > 3_000) {
          eventsReadAt = performance.now();
          const events = await this.cluster.kube.core.listNamespacedEvent({
            namespace: this.namespace,
            fieldSelector: `involvedObject.kind=StatefulSet,involvedObject.name=${this.fullname}`,
          });
          const refused = refusedPodCreation(events.items, since);
          if (refused) return { crash: refused };
        }
        const progress = rolloutProgress(pods, want);
        const now = performance.now();
        if (log && (progress !== said || now - saidAt > 15_000)) {
          log(`[rollout ${this.env}] ${((now - started) / 1000).toFixed(0)} s: ${progress}`);
          said = progress;
          saidAt = now;
        }
        const done =
          (s?.observedGeneration ?? 0) >= (set.metadata?.generation ?? 0) &&
          (s?.readyReplicas ?? 0) === want &&
          (s?.updatedReplicas ?? 0) === want &&
          s?.currentRevision === s?.updateRevision;
        return done ? { crash: undefined } : undefined;
      },
      { timeoutMs, intervalMs: 500 },
    ).catch((error: Error) => {
      throw new Error(`${error.message}; last status: ${last}`);
    });
    if (outcome.crash) throw new Error(`stopped waiting for ${what}: ${outcome.crash}`);
  }

  /** Asks for a rolling restart, as `kubectl rollout restart` does: a new pod template annotation. */
  async requestRollingRestart(): Promise<void> {
    await this.cluster.kube.apps.patchNamespacedStatefulSet({
      name: this.fullname,
      namespace: this.namespace,
      body: [
        {
          op: "add",
          path: "/spec/template/metadata/annotations/kubectl.kubernetes.io~1restartedAt",
          value: new Date().toISOString(),
        },
      ],
    });
  }

  /** Scales the StatefulSet to `pods` pods and waits until exactly those are Ready. */
  async scale(pods: number, timeoutMs = 240_000): Promise<void> {
    await this.cluster.kube.apps.replaceNamespacedStatefulSetScale({
      name: this.fullname,
      namespace: this.namespace,
      body: { metadata: { name: this.fullname, namespace: this.namespace }, spec: { replicas: pods } },
    });
    await waitFor(
      `${this.fullname} to run exactly ${pods} Ready pod(s)`,
      async () => {
        const all = await this.cluster.kube.pods(this.namespace, this.labelSelector);
        return all.length === pods && all.every((pod) => isPodReady(pod) && !pod.metadata?.deletionTimestamp);
      },
      { timeoutMs, intervalMs: 500 },
    );
  }

  /** Installs the release again with the same chart and values (e.g. after an uninstall). */
  async reinstall(timeoutSeconds = 300): Promise<void> {
    await runHelmInstall(this, await stageChart(this.helm, this.upstreamVersion, this.chartDir), timeoutSeconds);
  }

  /**
   * Uninstalls, then deletes the volume claims (a StatefulSet's PVCs outlive it) and the
   * volumes they retained, unless `keepVolumes`, which leaves them as `helm uninstall` does.
   * Every failure is reported; the first is thrown after the rest was tried.
   */
  async uninstall({ keepVolumes = false } = {}): Promise<void> {
    await this.closeEndpoints();
    if (this.delivery === "gitops") {
      await deleteApplied(this.cluster, this.namespace, this.applied);
      this.applied = [];
    } else
      await this.helm
        .run(["uninstall", this.name, "--wait", "--timeout", "180s", ...this.helmArgs()])
        .catch((error) => {
          if (!/not found/.test(String(error))) throw error;
        });
    if (keepVolumes) return;
    const failures: unknown[] = [];
    const claims = await this.cluster.kube.core.listNamespacedPersistentVolumeClaim({ namespace: this.namespace });
    for (const claim of claims.items) {
      await this.cluster.kube.core
        .deleteNamespacedPersistentVolumeClaim({ namespace: this.namespace, name: claim.metadata?.name ?? "" })
        .catch((error) => statusCode(error) === 404 || failures.push(error));
    }
    failures.push(...(await deleteRetainedVolumes(this.cluster, this.namespace)));
    for (const failure of failures)
      console.error(`[cleanup ${this.env}] ${failure instanceof Error ? failure.message : failure}`);
    if (failures.length > 0) throw failures[0];
  }

  /** Pods, events, logs of pods that are not Ready, and the values the release runs with. */
  async diagnostics(): Promise<string> {
    const helmValues = await this.helmValues().catch((error: Error) => ({ unavailable: error.message }));
    return [
      `--- release ${this.name} (environment ${this.env}, upstream valkey ${this.upstreamVersion}, ${this.helm})`,
      `chart: ${this.chartDir}`,
      `values files: ${this.valuesFiles.join(", ")}`,
      `fit to the cluster: ${this.adaptations.join("; ") || "none"}`,
      await this.cluster.kube.diagnostics(this.namespace),
      "--- values the release runs with (helm get values --all)",
      stringify(helmValues),
    ].join("\n");
  }
}

/** PersistentVolumes with reclaimPolicy Retain stay after their claims; the harness removes its own. */
async function deleteRetainedVolumes(cluster: Cluster, namespace: string): Promise<unknown[]> {
  const failures: unknown[] = [];
  const volumes = await cluster.kube.core.listPersistentVolume();
  for (const volume of volumes.items) {
    if (volume.spec?.claimRef?.namespace === namespace && volume.spec.persistentVolumeReclaimPolicy === "Retain") {
      await cluster.kube.core
        .deletePersistentVolume({ name: volume.metadata?.name ?? "" })
        .catch((error) => statusCode(error) === 404 || failures.push(error));
    }
  }
  return failures;
}

/** The moment from which a rollout's refused pods count: event times have a second's resolution. */
const refusalsFromNow = () => new Date(Date.now() - 1_000);

async function runHelmInstall(
  release: Release,
  chart: string,
  timeoutSeconds = 300,
  log?: (line: string) => void,
): Promise<void> {
  const args = [
    "upgrade",
    "--install",
    release.name,
    chart,
    ...release.valuesFiles.flatMap((file) => ["-f", file]),
    "--timeout",
    `${timeoutSeconds}s`,
    ...release.helmArgs(),
  ];
  const since = refusalsFromNow();
  const gitops = release.delivery === "gitops";
  try {
    if (gitops) {
      const previous = release.applied;
      const tracked = new Map(previous.map((o) => [keyOf(o), o]));
      // Tracked as applied, so that a failure half-way leaves nothing uninstall does not know of.
      const track = (o: AppliedObject) => {
        tracked.set(keyOf(o), o);
        release.applied = [...tracked.values()];
      };
      release.applied = await applyRendered(
        release.helm,
        release.cluster,
        chart,
        release,
        previous,
        log ?? (() => {}),
        track,
      );
    } else await release.helm.run(args);
    await release.waitReady(timeoutSeconds * 1000, log, since);
  } catch (error) {
    throw new InstallError(
      `${gitops ? "helm template + server-side apply" : "helm upgrade --install"} of environment ${release.env} (upstream valkey ${release.upstreamVersion}) failed: ${error instanceof Error ? error.message : error}`,
      await release.diagnostics(),
      { cause: error },
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

/** The harness's fit of the values to the cluster, written as the last values layer. */
async function writeFit(cluster: Cluster, installed: Values, env: string, namespace: string, name: string) {
  const fit = await fitToCluster(cluster, installed, `values.${env}.yaml`, namespace);
  const dir = join(cacheDir(), "values");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${namespace}-${name}-fit-${Date.now().toString(36)}.yaml`);
  writeFileSync(
    file,
    `# The harness's fit of ${env} to the cluster (fixtures/fit/rules.yaml)\n${stringify(fit.values)}`,
  );
  return { file, record: fit.record };
}

/**
 * The chart an install without an explicit one gets: the worktree's, or (VALKEY_CHART) the
 * package pushed to an OCI registry, pulled as a team's tooling would and refused unless it
 * holds the worktree's files: the published artefact is what the checks then judge.
 */
async function publishedChartOrWorktree(helm: Helm, env: string, log: (line: string) => void): Promise<string> {
  const source = setting("VALKEY_CHART");
  if (source === "worktree") return WRAPPER_CHART;
  const reference = parseChartReference(source);
  if (!reference) throw new Error(`VALKEY_CHART=${source} is not an OCI chart reference`);
  const chart = await pullChart(helm, reference, scratchDir("pulled-chart-"));
  const differences = packageDifferences(chart);
  if (differences.length > 0) {
    throw new Error(
      `VALKEY_CHART=${source} is not the worktree's chart: ${differences.join("; ")}. ` +
        "Fix: push the worktree's package (npm run chart:package -- --push <oci://repository>) or unset VALKEY_CHART.",
    );
  }
  log(`[install ${env}] chart: ${source}, pulled and installed as published (it holds the worktree's files)`);
  return chart;
}

/** Installs an environment's values into a namespace and waits until every pod is Ready. */
export async function installRelease(helm: Helm, cluster: Cluster, options: InstallOptions): Promise<Release> {
  const log = options.log ?? console.log;
  const chartDir = options.chartDir ?? (await publishedChartOrWorktree(helm, options.env, log));
  const declaredChartDir = options.declaredChartDir ?? (options.chartDir ? chartDir : WRAPPER_CHART);
  const upstreamVersion = options.upstreamVersion ?? pinnedUpstreamVersion(chartDir);
  const name = options.release ?? "valkey";
  const chart = await stageChart(helm, upstreamVersion, chartDir);
  const profiles = options.profiles ?? [];
  const layers = [environmentValuesFile(options.env, chartDir), ...profiles, ...(options.extraValuesFiles ?? [])];
  const installed = [...profiles, ...(options.extraValuesFiles ?? [])]
    .map(readValuesFile)
    .reduce(mergeValues, environmentValues(options.env, chartDir));
  const declared = declaredValues(options.env, declaredChartDir, profiles);

  const fit = await writeFit(cluster, installed, options.env, options.namespace, name);

  // The platform's secret manager creates the Secret the environment declares, whatever a
  // sabotaged or upgraded chart does with it.
  const secret = usersSecret(declared);
  const credentials = secret?.data ?? {};
  if (secret) {
    await cluster.kube.core.createNamespacedSecret({
      namespace: options.namespace,
      body: { metadata: { name: secret.name }, stringData: secret.data },
    });
  }
  // The certificate manager's part: the TLS Secret the environment names, for the release's addresses.
  const tls = declared.valkey?.tls?.enabled
    ? await createTlsSecret(cluster, options.namespace, declared, upstreamFullname(name, declared))
    : undefined;

  const release = new Release({
    helm,
    cluster,
    name,
    namespace: options.namespace,
    env: options.env,
    upstreamVersion,
    chartDir,
    declaredChartDir,
    valuesFiles: [...layers, fit.file],
    fit: fit.record,
    credentials,
    profiles,
    tls,
    delivery: options.delivery,
  });
  for (const line of release.adaptations) log(`[install ${options.env}] fit: ${line}`);
  const started = performance.now();
  log(
    `[install ${options.env}] ${release.delivery === "gitops" ? "helm template, applied server-side" : `helm upgrade --install ${name}`} into ${options.namespace}`,
  );
  try {
    await runHelmInstall(release, chart, options.timeoutSeconds ?? 300, log);
  } catch (error) {
    // No Release reaches the caller: what the failed install made (the cluster-wide
    // StorageClass among it) goes now, after the diagnostics were taken.
    await release
      .uninstall()
      .catch((cleanup: Error) => log(`[install ${options.env}] removing the failed install: ${cleanup.message}`));
    throw error;
  }
  release.installSeconds = (performance.now() - started) / 1000;
  log(
    `[install ${options.env}] ${helm} installed upstream valkey ${upstreamVersion} in ${release.installSeconds.toFixed(1)} s`,
  );
  return release;
}
