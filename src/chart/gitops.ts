import http from "node:http";
import https from "node:https";
import { KubeConfig, KubernetesObjectApi } from "@kubernetes/client-node";
import type { Cluster } from "../cluster/index.ts";
import { statusCode } from "../kube/index.ts";
import type { Helm } from "./helm.ts";
import { type Manifest, renderChart } from "./wrapper.ts";

/**
 * The GitOps way of delivering the chart, as Argo CD does it (and Flux with a post-renderer):
 * `helm template` for the cluster's version and API groups, test hooks left out (Argo CD
 * skips them), every object applied with server-side apply under one field manager, and
 * objects the new rendering no longer holds pruned. No Helm release exists on the cluster.
 */

export const GITOPS_FIELD_MANAGER = "valkey-harness-gitops";

/** How a release reaches the cluster: `helm upgrade --install`, or rendered and applied (GitOps). */
export type Delivery = "helm" | "gitops";

export interface AppliedObject {
  apiVersion: string;
  kind: string;
  name: string;
  /** Undefined for cluster-scoped objects (the StorageClass). */
  namespace?: string;
}

/** Helm's install order (the kinds this chart renders), by kind; others go last: what an object needs exists before it. */
const ORDER = [
  "Namespace",
  "NetworkPolicy",
  "ResourceQuota",
  "LimitRange",
  "PodDisruptionBudget",
  "ServiceAccount",
  "Secret",
  "ConfigMap",
  "StorageClass",
  "PersistentVolumeClaim",
  "ClusterRole",
  "ClusterRoleBinding",
  "Role",
  "RoleBinding",
  "Service",
  "Deployment",
  "StatefulSet",
];
const rank = (kind: string) => (ORDER.includes(kind) ? ORDER.indexOf(kind) : ORDER.length);

/** An object's identity across renderings: its group, not its version (a kind may move from v1beta1 to v1). */
export const keyOf = (o: AppliedObject) =>
  `${o.apiVersion.includes("/") ? o.apiVersion.split("/")[0] : ""}/${o.kind}/${o.namespace ?? ""}/${o.name}`;

/** The API's discovery of a kind: its plural and whether it is namespaced (KubernetesObjectApi keeps it to itself). */
class Discovery extends KubernetesObjectApi {
  async pathOf(manifest: Manifest, namespace: string): Promise<string> {
    const resource = await this.resource(manifest.apiVersion, manifest.kind);
    if (!resource) throw new Error(`the cluster serves no ${manifest.kind} in ${manifest.apiVersion}`);
    const base = manifest.apiVersion.includes("/") ? `/apis/${manifest.apiVersion}` : `/api/${manifest.apiVersion}`;
    const scope = resource.namespaced ? `/namespaces/${encodeURIComponent(namespace)}` : "";
    return `${base}${scope}/${resource.name}/${encodeURIComponent(manifest.metadata.name)}`;
  }
}

/**
 * Server-side apply of one manifest exactly as rendered (the bytes kubectl or Argo CD would
 * send). Not through client-node's typed serializer: it maps the Kubernetes field names to
 * its own model's (`from` is `_from` there) and silently drops the rest, which turns a
 * NetworkPolicy rule that admits a list of peers into one that admits everyone.
 */
async function serverSideApply(config: KubeConfig, path: string, manifest: Manifest): Promise<Manifest> {
  const server = config.getCurrentCluster()?.server;
  if (!server) throw new Error("the kubeconfig has no current cluster");
  const url = new URL(`${server.replace(/\/$/, "")}${path}`);
  url.searchParams.set("fieldManager", GITOPS_FIELD_MANAGER);
  url.searchParams.set("force", "true");
  const options: https.RequestOptions = {
    method: "PATCH",
    headers: { "Content-Type": "application/apply-patch+yaml", Accept: "application/json" },
  };
  await config.applyToHTTPSOptions(options);
  options.timeout = 60_000;
  const body = JSON.stringify(manifest);
  const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const request = (url.protocol === "https:" ? https : http).request(url, options, (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("end", () => resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
      response.on("error", reject);
    });
    request.on("error", reject);
    request.on("timeout", () => request.destroy(new Error(`no answer in 60 s to ${url.pathname}`)));
    request.end(body);
  });
  if (status >= 300) {
    const message = (() => {
      try {
        return JSON.parse(text).message as string;
      } catch {
        return text;
      }
    })();
    throw Object.assign(
      new Error(`server-side apply of ${manifest.kind}/${manifest.metadata.name}: ${status} ${message}`),
      {
        code: status,
        body: text,
      },
    );
  }
  return JSON.parse(text) as Manifest;
}

/** An object client whose default namespace (for namespaced kinds without one) is `namespace`. */
function objectsIn(cluster: Cluster, namespace: string): KubernetesObjectApi {
  const config = new KubeConfig();
  const source = cluster.kube.config;
  config.loadFromOptions({
    clusters: source.clusters,
    users: source.users,
    contexts: source.contexts.map((c) => (c.name === source.currentContext ? { ...c, namespace } : c)),
    currentContext: source.currentContext,
  });
  return KubernetesObjectApi.makeApiClient(config);
}

/** `helm template` arguments that render for this cluster: its version and every API group/version it serves. */
async function clusterCapabilities(cluster: Cluster): Promise<string[]> {
  const groups = await cluster.kube.apiGroupVersions();
  return ["--kube-version", await cluster.kube.versionOfServer(), ...groups.flatMap((v) => ["--api-versions", v])];
}

/**
 * Renders the chart for the release and applies it server-side; prunes what `previous`
 * applied and the rendering no longer holds. Returns what it applied; `onApplied` hears of
 * each object as it is applied, so that a failure half-way leaves nothing untracked.
 */
export async function applyRendered(
  helm: Helm,
  cluster: Cluster,
  chart: string,
  release: { name: string; namespace: string; valuesFiles: string[] },
  previous: readonly AppliedObject[],
  log: (line: string) => void,
  onApplied: (object: AppliedObject) => void = () => {},
): Promise<AppliedObject[]> {
  const manifests: Manifest[] = await renderChart(helm, chart, {
    release: release.name,
    namespace: release.namespace,
    valuesFiles: release.valuesFiles,
    args: ["--skip-tests", ...(await clusterCapabilities(cluster))],
  });
  const discovery = cluster.kube.config.makeApiClient(Discovery);
  const applied: AppliedObject[] = [];
  for (const manifest of [...manifests].sort((a, b) => rank(a.kind) - rank(b.kind))) {
    const result = await serverSideApply(
      cluster.kube.config,
      await discovery.pathOf(manifest, release.namespace),
      manifest,
    );
    const object = {
      apiVersion: manifest.apiVersion,
      kind: manifest.kind,
      name: manifest.metadata.name,
      namespace: result.metadata?.namespace,
    };
    applied.push(object);
    onApplied(object);
  }
  const current = new Set(applied.map(keyOf));
  const pruned = previous.filter((o) => !current.has(keyOf(o)));
  await deleteApplied(cluster, release.namespace, pruned);
  log(
    `[gitops ${release.namespace}] applied ${applied.length} object(s) server-side (field manager ${GITOPS_FIELD_MANAGER})${pruned.length ? `, pruned ${pruned.map((o) => `${o.kind}/${o.name}`).join(", ")}` : ""}`,
  );
  return applied;
}

/** Deletes applied objects, the last applied first; those already gone are no error. */
export async function deleteApplied(
  cluster: Cluster,
  namespace: string,
  objects: readonly AppliedObject[],
): Promise<void> {
  const api = objectsIn(cluster, namespace);
  for (const o of [...objects].sort((a, b) => rank(b.kind) - rank(a.kind))) {
    await api
      .delete({ apiVersion: o.apiVersion, kind: o.kind, metadata: { name: o.name, namespace: o.namespace } })
      .catch((error) => {
        if (statusCode(error) !== 404) throw error;
      });
  }
}
