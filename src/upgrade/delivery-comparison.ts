import { isDeepStrictEqual } from "node:util";
import { KubernetesObjectApi } from "@kubernetes/client-node";
import { parseAllDocuments } from "yaml";
import type { AppliedObject } from "../chart/gitops.ts";
import type { Release } from "../chart/release.ts";
import { statusCode } from "../kube/index.ts";

/**
 * Whether two releases of the same revision, delivered differently (`helm upgrade`, and
 * `helm template` applied server-side as a GitOps tool does), ended up the same on the
 * cluster: the same objects, with the same live specs once what necessarily differs
 * between two releases is set aside (their namespace, the StorageClass name the harness
 * gives each release, identities, cluster IPs, status, Helm's ownership annotations).
 */

type Live = Record<string, unknown>;

/** Metadata the API server or Helm's bookkeeping sets, never the chart. */
const VOLATILE_METADATA = ["uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "namespace"];
const HELM_ANNOTATIONS = ["meta.helm.sh/release-name", "meta.helm.sh/release-namespace"];

/** The objects a release consists of: Helm's stored manifest, or what the GitOps path applied. */
export async function objectsOf(release: Release): Promise<AppliedObject[]> {
  if (release.delivery === "gitops") return [...release.applied];
  const manifest = await release.helm.run(["get", "manifest", release.name, ...release.helmArgs()]);
  return parseAllDocuments(manifest)
    .map((doc) => doc.toJSON() as Live | null)
    .filter((o): o is Live => !!o && typeof o.kind === "string")
    .map((o) => {
      const metadata = o.metadata as { name: string; namespace?: string };
      return {
        apiVersion: String(o.apiVersion),
        kind: String(o.kind),
        name: metadata.name,
        namespace: metadata.namespace,
      };
    });
}

/** What stands for this release's own names in a comparison: its namespace and StorageClass. */
export function releaseNames(release: Release): [string, string][] {
  const names: [string, string][] = [];
  const storageClass = release.fit.storageClassName?.to;
  // Longest first: the class name contains the namespace.
  if (storageClass) names.push([storageClass, "<storage-class>"]);
  names.push([release.namespace, "<namespace>"]);
  return names;
}

const replaceNames = (text: string, names: [string, string][]) =>
  names.reduce((t, [name, placeholder]) => t.replaceAll(name, placeholder), text);

/** A live object as the chart made it: the release's own names replaced, what the cluster assigns removed. */
export function normalised(object: Live, names: [string, string][]): Live {
  const copy = JSON.parse(replaceNames(JSON.stringify(object), names)) as Live;
  delete copy.status;
  const metadata = (copy.metadata ?? {}) as Record<string, unknown>;
  for (const field of VOLATILE_METADATA) delete metadata[field];
  const annotations = metadata.annotations as Record<string, string> | undefined;
  if (annotations) {
    for (const name of HELM_ANNOTATIONS) delete annotations[name];
    if (Object.keys(annotations).length === 0) delete metadata.annotations;
  }
  const spec = copy.spec as Record<string, unknown> | undefined;
  // Upstream's pod template carries checksums of rendered files that hold the namespace;
  // the files themselves are compared as objects (ConfigMaps), a hash cannot be.
  const template = (spec?.template as { metadata?: { annotations?: Record<string, string> } } | undefined)?.metadata;
  if (template?.annotations) {
    for (const name of Object.keys(template.annotations))
      if (name.startsWith("checksum/")) delete template.annotations[name];
    if (Object.keys(template.annotations).length === 0) delete template.annotations;
  }
  if (copy.kind === "Service" && spec) {
    delete spec.clusterIP;
    delete spec.clusterIPs;
  }
  return copy;
}

/** Paths at which two JSON values differ, at most `limit`. */
export function differences(a: unknown, b: unknown, path = "", limit = 8): string[] {
  if (isDeepStrictEqual(a, b)) return [];
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null;
  if (!isObject(a) || !isObject(b) || Array.isArray(a) !== Array.isArray(b))
    return [`${path || "."}: ${JSON.stringify(a)?.slice(0, 160)} vs ${JSON.stringify(b)?.slice(0, 160)}`];
  const found: string[] = [];
  for (const key of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
    if (found.length >= limit) break;
    found.push(...differences(a[key], b[key], `${path}.${key}`, limit - found.length));
  }
  return found;
}

/** An object's identity in a comparison of two releases: group, kind, and its name with the release's names replaced. */
const identity = (o: AppliedObject, names: [string, string][]) =>
  `${o.apiVersion.includes("/") ? o.apiVersion.split("/")[0] : "core"}/${o.kind}/${replaceNames(o.name, names)}`;

async function readLive(release: Release, o: AppliedObject): Promise<Live | undefined> {
  const api = KubernetesObjectApi.makeApiClient(release.cluster.kube.config);
  return (await api
    .read({
      apiVersion: o.apiVersion,
      kind: o.kind,
      metadata: { name: o.name, namespace: o.namespace ?? release.namespace },
    })
    .catch((error) => (statusCode(error) === 404 ? undefined : Promise.reject(error)))) as Live | undefined;
}

/**
 * Every way `gitops` differs from `helm` on the cluster, in words: objects only one of them
 * has (or that its delivery lists but the cluster no longer holds), and per object the
 * paths whose live values differ. Empty when both ended the same.
 */
export async function compareDeliveries(helm: Release, gitops: Release): Promise<string[]> {
  const sides = await Promise.all(
    [helm, gitops].map(async (release) => {
      const names = releaseNames(release);
      const objects = new Map<string, Live | undefined>();
      for (const o of await objectsOf(release)) {
        const live = await readLive(release, o);
        objects.set(identity(o, names), live && normalised(live, names));
      }
      return objects;
    }),
  );
  const [byHelm, byGitops] = sides as [Map<string, Live | undefined>, Map<string, Live | undefined>];
  const found: string[] = [];
  for (const key of [...new Set([...byHelm.keys(), ...byGitops.keys()])].sort()) {
    const [a, b] = [byHelm.get(key), byGitops.get(key)];
    if (!byHelm.has(key)) found.push(`${key}: applied the GitOps way only`);
    else if (!byGitops.has(key)) found.push(`${key}: installed by helm upgrade only`);
    else if (!a || !b) found.push(`${key}: listed but not on the cluster (${!a ? "helm" : "GitOps"})`);
    else for (const difference of differences(a, b)) found.push(`${key} differs at ${difference} (helm vs GitOps)`);
  }
  return found;
}
