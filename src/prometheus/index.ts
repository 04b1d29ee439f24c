import { RbacAuthorizationV1Api } from "@kubernetes/client-node";
import { stringify } from "yaml";
import { type Cluster, RESTRICTED_CONTAINER, restrictedPod } from "../cluster/index.ts";
import { PortForwardServer } from "../kube/forward.ts";
import { isPodReady, statusCode, waitFor } from "../kube/index.ts";
import { setting } from "../settings.ts";

/**
 * The scrape configuration platform teams run: the conventional annotation-driven jobs of
 * Prometheus's Kubernetes examples (and of the community chart), nothing Valkey-specific.
 * A Service annotated prometheus.io/scrape is scraped on every endpoint, at the annotated
 * port and path; series get the labels namespace, service, pod and node.
 */
export function annotationScrapeConfig(options: {
  scrapeInterval: string;
  namespaces?: string[];
  ruleFiles: string[];
}) {
  const discovery = (role: string) => [
    { role, ...(options.namespaces ? { namespaces: { names: options.namespaces } } : {}) },
  ];
  return {
    global: {
      scrape_interval: options.scrapeInterval,
      evaluation_interval: options.scrapeInterval,
      scrape_timeout: "3s",
    },
    rule_files: options.ruleFiles,
    scrape_configs: [
      {
        job_name: "kubernetes-service-endpoints",
        honor_labels: true,
        kubernetes_sd_configs: discovery("endpoints"),
        relabel_configs: [
          {
            source_labels: ["__meta_kubernetes_service_annotation_prometheus_io_scrape"],
            action: "keep",
            regex: "true",
          },
          {
            source_labels: ["__meta_kubernetes_service_annotation_prometheus_io_scheme"],
            action: "replace",
            target_label: "__scheme__",
            regex: "(https?)",
          },
          {
            source_labels: ["__meta_kubernetes_service_annotation_prometheus_io_path"],
            action: "replace",
            target_label: "__metrics_path__",
            regex: "(.+)",
          },
          {
            source_labels: ["__address__", "__meta_kubernetes_service_annotation_prometheus_io_port"],
            action: "replace",
            target_label: "__address__",
            regex: "(.+?)(?::\\d+)?;(\\d+)",
            replacement: "$1:$2",
          },
          { action: "labelmap", regex: "__meta_kubernetes_service_label_(.+)" },
          { source_labels: ["__meta_kubernetes_namespace"], action: "replace", target_label: "namespace" },
          { source_labels: ["__meta_kubernetes_service_name"], action: "replace", target_label: "service" },
          { source_labels: ["__meta_kubernetes_pod_name"], action: "replace", target_label: "pod" },
          { source_labels: ["__meta_kubernetes_pod_node_name"], action: "replace", target_label: "node" },
        ],
      },
      {
        job_name: "kubernetes-pods",
        honor_labels: true,
        kubernetes_sd_configs: discovery("pod"),
        relabel_configs: [
          { source_labels: ["__meta_kubernetes_pod_annotation_prometheus_io_scrape"], action: "keep", regex: "true" },
          {
            source_labels: ["__meta_kubernetes_pod_annotation_prometheus_io_path"],
            action: "replace",
            target_label: "__metrics_path__",
            regex: "(.+)",
          },
          {
            source_labels: ["__address__", "__meta_kubernetes_pod_annotation_prometheus_io_port"],
            action: "replace",
            target_label: "__address__",
            regex: "(.+?)(?::\\d+)?;(\\d+)",
            replacement: "$1:$2",
          },
          { action: "labelmap", regex: "__meta_kubernetes_pod_label_(.+)" },
          { source_labels: ["__meta_kubernetes_namespace"], action: "replace", target_label: "namespace" },
          { source_labels: ["__meta_kubernetes_pod_name"], action: "replace", target_label: "pod" },
        ],
      },
    ],
  };
}

export interface Target {
  labels: Record<string, string>;
  scrapePool: string;
  scrapeUrl: string;
  health: "up" | "down" | "unknown";
  lastError: string;
}

export interface Alert {
  labels: Record<string, string>;
  state: "pending" | "firing";
  activeAt: string;
  value: string;
}

export interface Sample {
  metric: Record<string, string>;
  value: number;
}

/** A Prometheus running in the cluster, reached through a port-forward. */
export class StartedPrometheus {
  readonly namespace: string;
  readonly name: string;
  readonly scrapeIntervalSeconds: number;
  private readonly cluster: Cluster;
  private readonly forward: PortForwardServer;

  constructor(
    cluster: Cluster,
    namespace: string,
    name: string,
    scrapeIntervalSeconds: number,
    forward: PortForwardServer,
  ) {
    this.cluster = cluster;
    this.namespace = namespace;
    this.name = name;
    this.scrapeIntervalSeconds = scrapeIntervalSeconds;
    this.forward = forward;
  }

  private async api<T>(path: string): Promise<T> {
    const response = await fetch(`http://${this.forward.host}:${this.forward.port}${path}`, {
      signal: AbortSignal.timeout(10_000),
    });
    const body = (await response.json()) as { status: string; data: T; error?: string };
    if (body.status !== "success") throw new Error(`Prometheus ${path}: ${body.error ?? response.status}`);
    return body.data;
  }

  /** Active targets of the annotation-driven jobs. */
  async targets(): Promise<Target[]> {
    return (await this.api<{ activeTargets: Target[] }>("/api/v1/targets?state=active")).activeTargets;
  }

  /** An instant PromQL query's vector. */
  async query(promql: string): Promise<Sample[]> {
    const data = await this.api<{ result: { metric: Record<string, string>; value: [number, string] }[] }>(
      `/api/v1/query?query=${encodeURIComponent(promql)}`,
    );
    return data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
  }

  async alerts(): Promise<Alert[]> {
    return (await this.api<{ alerts: Alert[] }>("/api/v1/alerts")).alerts;
  }

  /** Removes the Prometheus and what it needed (RBAC, config), and closes the port-forward. */
  async stop(): Promise<void> {
    await this.forward.close();
    const rbac = this.cluster.kube.config.makeApiClient(RbacAuthorizationV1Api);
    const id = `${this.namespace}-${this.name}`;
    await rbac.deleteClusterRoleBinding({ name: id }).catch((e) => statusCode(e) === 404 || Promise.reject(e));
    await rbac.deleteClusterRole({ name: id }).catch((e) => statusCode(e) === 404 || Promise.reject(e));
    await this.cluster.kube.apps
      .deleteNamespacedDeployment({ namespace: this.namespace, name: this.name })
      .catch((e) => statusCode(e) === 404 || Promise.reject(e));
  }
}

export interface PrometheusOptions {
  namespace: string;
  name?: string;
  /** Discover only these namespaces (default: every namespace). */
  namespaces?: string[];
  /** Rule files from ConfigMaps of the same namespace: ConfigMap name and key. */
  ruleConfigMaps?: { name: string; key: string }[];
  scrapeIntervalSeconds?: number;
}

/**
 * Deploys a real Prometheus (the offline image, or VALKEY_PROMETHEUS_IMAGE) into a
 * namespace with the annotation-driven scrape jobs and RBAC for service discovery, waits
 * until it is ready, and opens a port-forward to its API.
 */
export async function startPrometheus(cluster: Cluster, options: PrometheusOptions): Promise<StartedPrometheus> {
  const { namespace } = options;
  const name = options.name ?? "prometheus";
  const interval = options.scrapeIntervalSeconds ?? 5;
  const image = setting("VALKEY_PROMETHEUS_IMAGE") ?? cluster.info.images?.prometheus;
  if (!image)
    throw new Error("no Prometheus image: build the offline images (npm run images) or set VALKEY_PROMETHEUS_IMAGE");
  const server = cluster.nodeControl?.nodes[0];
  // The offline image goes to the server node only, where the Prometheus pod then runs.
  if (cluster.imageLoading && image === cluster.info.images?.prometheus && server) {
    await cluster.imageLoading.load([image], [server.name]);
  }
  const id = `${namespace}-${name}`;
  const rbac = cluster.kube.config.makeApiClient(RbacAuthorizationV1Api);
  const created = (e: unknown) => (statusCode(e) === 409 ? undefined : Promise.reject(e));
  await cluster.kube.core.createNamespacedServiceAccount({ namespace, body: { metadata: { name } } }).catch(created);
  await rbac
    .createClusterRole({
      body: {
        metadata: { name: id, labels: { "org.valkey-harness.managed": "true" } },
        rules: [
          { apiGroups: [""], resources: ["nodes", "services", "endpoints", "pods"], verbs: ["get", "list", "watch"] },
          { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: ["get", "list", "watch"] },
        ],
      },
    })
    .catch(created);
  await rbac
    .createClusterRoleBinding({
      body: {
        metadata: { name: id, labels: { "org.valkey-harness.managed": "true" } },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: id },
        subjects: [{ kind: "ServiceAccount", name, namespace }],
      },
    })
    .catch(created);
  const rules = options.ruleConfigMaps ?? [];
  const config = annotationScrapeConfig({
    scrapeInterval: `${interval}s`,
    namespaces: options.namespaces,
    ruleFiles: rules.map((_, i) => `/etc/prometheus/rules-${i}/*.yml`),
  });
  await cluster.kube.core.createNamespacedConfigMap({
    namespace,
    body: { metadata: { name: `${name}-config` }, data: { "prometheus.yml": stringify(config) } },
  });
  const labels = { app: name, "org.valkey-harness.managed": "true" };
  await cluster.kube.apps.createNamespacedDeployment({
    namespace,
    body: {
      metadata: { name, labels },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: name } },
        template: {
          metadata: { labels },
          spec: {
            serviceAccountName: name,
            ...(server ? { nodeSelector: { "kubernetes.io/hostname": server.name } } : {}),
            // Restricted: it may run in a release's namespace, which enforces that standard.
            securityContext: { ...restrictedPod(65534), fsGroup: 65534 },
            terminationGracePeriodSeconds: 1,
            containers: [
              {
                name: "prometheus",
                image,
                imagePullPolicy: "IfNotPresent",
                securityContext: RESTRICTED_CONTAINER,
                args: [
                  "--config.file=/etc/prometheus/prometheus.yml",
                  "--storage.tsdb.path=/prometheus",
                  "--storage.tsdb.retention.time=2h",
                  "--web.listen-address=:9090",
                ],
                ports: [{ containerPort: 9090 }],
                readinessProbe: { httpGet: { path: "/-/ready", port: 9090 }, periodSeconds: 1 },
                volumeMounts: [
                  { name: "config", mountPath: "/etc/prometheus" },
                  { name: "data", mountPath: "/prometheus" },
                  ...rules.map((_, i) => ({ name: `rules-${i}`, mountPath: `/etc/prometheus/rules-${i}` })),
                ],
              },
            ],
            volumes: [
              { name: "config", configMap: { name: `${name}-config` } },
              { name: "data", emptyDir: {} },
              ...rules.map((r, i) => ({
                name: `rules-${i}`,
                configMap: { name: r.name, items: [{ key: r.key, path: `${r.key.replace(/\.ya?ml$/, "")}.yml` }] },
              })),
            ],
          },
        },
      },
    },
  });
  const pod = await waitFor(
    `Prometheus ${namespace}/${name} to be ready`,
    async () => (await cluster.kube.pods(namespace, `app=${name}`)).find(isPodReady)?.metadata?.name,
    { timeoutMs: 120_000, intervalMs: 500 },
  );
  const forward = await PortForwardServer.start(cluster.kube, namespace, async () => pod, 9090);
  return new StartedPrometheus(cluster, namespace, name, interval, forward);
}
