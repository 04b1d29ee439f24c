import { fileURLToPath } from "node:url";
import { StorageV1Api } from "@kubernetes/client-node";
import type { Cluster } from "../cluster/index.ts";
import { setting } from "../settings.ts";
import { bytes, millicores, scaleBytes, scaleResourceList } from "./quantity.ts";
import { harnessImageValues } from "./upstream.ts";
import { mergeValues, readValuesFile, type Values } from "./values.ts";

export const FIT_RULES_FILE = fileURLToPath(new URL("../../fixtures/fit/rules.yaml", import.meta.url));

export interface FitRules {
  requestScale: number;
  volumeScale: number;
  standInProvisioners: Record<string, string>;
}

export function fitRules(): FitRules {
  const rules = readValuesFile(FIT_RULES_FILE) as FitRules;
  for (const key of ["requestScale", "volumeScale"] as const) {
    if (!(rules[key] > 0 && rules[key] <= 1)) {
      throw new Error(`${FIT_RULES_FILE}: ${key} must be a factor above 0 and at most 1, got ${rules[key]}`);
    }
  }
  return rules;
}

/** What the harness changed to fit an environment onto the cluster: data, for the checks and the reports. */
/** The wrapper's own init container (values.yaml, valkey.extraInitContainers): it runs the server's image. */
export const WRAPPER_INIT_CONTAINER = "valkey-wrapper-init";

export interface FitRecord {
  images?: { valkey: string; exporter: string; pulledFrom?: string; initContainers?: string[] };
  /** The chart's StorageClass got a name of the release's own (a StorageClass is cluster-wide). */
  storageClassName?: { from: string; to: string };
  provisioner?: { from: string; to: string };
  /** Requests of every container were multiplied by this (limits as written). */
  requestScale?: number;
  /** Volume sizes were multiplied by this. */
  volumeScale?: number;
  antiAffinityRelaxed?: { pods: number; nodes: number };
}

/** The record in words, one line per change. */
export function describeFit(record: FitRecord): string[] {
  const lines: string[] = [];
  if (record.images) {
    const where = record.images.pulledFrom ? `pulled from ${record.images.pulledFrom}` : "offline, imported";
    const inits = record.images.initContainers?.length
      ? ` (${record.images.valkey} for ${record.images.initContainers.join(", ")} too)`
      : "";
    lines.push(`images ${record.images.valkey} and ${record.images.exporter} (${where})${inits}`);
  }
  if (record.storageClassName) {
    lines.push(
      `StorageClass ${record.storageClassName.from} named ${record.storageClassName.to} (cluster-wide; releases run side by side)`,
    );
  }
  if (record.provisioner) lines.push(`provisioner ${record.provisioner.from} served by ${record.provisioner.to}`);
  if (record.requestScale) lines.push(`resource requests x ${record.requestScale} (limits as written)`);
  if (record.volumeScale) lines.push(`volume sizes x ${record.volumeScale}`);
  if (record.antiAffinityRelaxed) {
    lines.push(
      `required pod anti-affinity relaxed to preferred: ${record.antiAffinityRelaxed.pods} pods, ${record.antiAffinityRelaxed.nodes} node(s)`,
    );
  }
  return lines;
}

export class InstallError extends Error {
  constructor(summary: string, details: string, options?: { cause?: unknown }) {
    super(`${summary}\n${details}`, options);
    this.name = "InstallError";
  }
}

/** Provisioners the cluster serves: those of StorageClasses not created by a Helm release, and CSI drivers. */
export async function servedProvisioners(cluster: Cluster): Promise<Set<string>> {
  const classes = await cluster.kube.storage.listStorageClass();
  const drivers = await cluster.kube.config
    .makeApiClient(StorageV1Api)
    .listCSIDriver()
    .catch(() => ({ items: [] }));
  return new Set([
    ...classes.items.filter((c) => !c.metadata?.labels?.["app.kubernetes.io/instance"]).map((c) => c.provisioner),
    ...drivers.items.map((d) => d.metadata?.name as string),
  ]);
}

/** Whether the nodes' free allocatable holds one pod's requests on each of `pods` nodes (or all on fewer). */
async function clusterHoldsRequests(cluster: Cluster, values: Values, pods: number): Promise<boolean> {
  const request = (list: Values | undefined) => ({
    cpu: list?.cpu === undefined ? 0 : millicores(list.cpu),
    memory: list?.memory === undefined ? 0 : bytes(list.memory),
  });
  const parts = [
    request(values.valkey?.resources?.requests),
    request(values.valkey?.metrics?.enabled ? values.valkey?.metrics?.exporter?.resources?.requests : undefined),
  ];
  const perPod = { cpu: parts.reduce((s, p) => s + p.cpu, 0), memory: parts.reduce((s, p) => s + p.memory, 0) };
  const nodes = (await cluster.kube.core.listNode()).items;
  const allPods = (await cluster.kube.core.listPodForAllNamespaces()).items.filter(
    (p) => p.status?.phase !== "Succeeded" && p.status?.phase !== "Failed",
  );
  let free = { cpu: 0, memory: 0 };
  let podsThatFit = 0;
  for (const node of nodes) {
    const used = allPods
      .filter((p) => p.spec?.nodeName === node.metadata?.name)
      .flatMap((p) => p.spec?.containers ?? [])
      .map((c) => request(c.resources?.requests as Values | undefined))
      .reduce((sum, r) => ({ cpu: sum.cpu + r.cpu, memory: sum.memory + r.memory }), { cpu: 0, memory: 0 });
    const nodeFree = {
      cpu: millicores(node.status?.allocatable?.cpu ?? "0") - used.cpu,
      memory: bytes(node.status?.allocatable?.memory ?? "0") - used.memory,
    };
    free = { cpu: free.cpu + Math.max(0, nodeFree.cpu), memory: free.memory + Math.max(0, nodeFree.memory) };
    if (nodeFree.cpu >= perPod.cpu && nodeFree.memory >= perPod.memory) podsThatFit++;
  }
  return podsThatFit > 0 && free.cpu >= perPod.cpu * pods && free.memory >= perPod.memory * pods;
}

export interface Fit {
  /** Values layered last at install (the harness's own layer). */
  values: Values;
  record: FitRecord;
}

/**
 * Decides what the cluster cannot honour of an environment's values (`values`: the
 * environment as it will be installed, extra layers included) and returns the smallest
 * values layer that fixes it, by the rules of fixtures/fit/rules.yaml.
 */
export async function fitToCluster(cluster: Cluster, values: Values, source: string, namespace: string): Promise<Fit> {
  const rules = fitRules();
  const record: FitRecord = {};
  let fit: Values = {};
  if (values.storageClass?.create && values.storageClass.name) {
    // Several releases of the chart run side by side on the test cluster; a StorageClass is
    // cluster-wide, so each release's class gets a name of its own (and its claims use it).
    const name = `${values.storageClass.name}-${namespace}`.slice(0, 63);
    fit = mergeValues(fit, { storageClass: { name }, valkey: { replica: { persistence: { storageClass: name } } } });
    record.storageClassName = { from: values.storageClass.name, to: name };
  }
  const images = cluster.info.images;
  // Arrays replace each other in Helm's values: the fit writes the whole list of init containers, once.
  const initContainers: Values[] | undefined = Array.isArray(values.valkey?.extraInitContainers)
    ? values.valkey.extraInitContainers.map((c: Values) => ({ ...c }))
    : undefined;
  if (images) {
    const server = harnessImageValues(images);
    fit = mergeValues(fit, { valkey: server });
    record.images = { valkey: images.valkey, exporter: images.exporter, pulledFrom: images.pulledFrom };
    // The wrapper's init container runs the server's image (the chart refuses another).
    for (const container of initContainers ?? []) {
      if (container.name !== WRAPPER_INIT_CONTAINER) continue;
      container.image = `${server.image.registry}/${server.image.repository}:${server.image.tag}`;
      container.imagePullPolicy = server.image.pullPolicy;
      record.images.initContainers = [...(record.images.initContainers ?? []), container.name];
    }
  }

  const provisioner: string | undefined = values.storageClass?.provisioner;
  if (values.storageClass?.create && provisioner) {
    const served = await servedProvisioners(cluster);
    let used = provisioner;
    const standIn =
      setting("VALKEY_FIT_PROVISIONERS") === "stand-in" ? rules.standInProvisioners[provisioner] : undefined;
    if (!served.has(provisioner) && standIn) {
      used = standIn;
      fit = mergeValues(fit, { storageClass: { provisioner: standIn } });
      record.provisioner = { from: provisioner, to: standIn };
    }
    if (!served.has(used)) {
      throw new InstallError(
        `storageClass.provisioner "${provisioner}" (${source}) is not served by this cluster, whose provisioners are: ${[...served].join(", ") || "none"}.`,
        `Its volumes would stay Pending and no pod would start. Fix the provisioner's name; if it is a real driver of your platform, add it with the test cluster's stand-in to standInProvisioners in ${FIT_RULES_FILE}.`,
      );
    }
  }

  const pods = Number(values.valkey?.replica?.replicas ?? 0) + 1;
  const resources = setting("VALKEY_FIT_RESOURCES");
  const scaleRequests =
    resources === "scale" ||
    (resources === "auto" &&
      (cluster.info.kind === "container" || !(await clusterHoldsRequests(cluster, values, pods))));
  if (scaleRequests) {
    const scaled = (list: Values | undefined) =>
      list?.requests ? { requests: scaleResourceList(list.requests, rules.requestScale) } : undefined;
    const valkey: Values = {};
    if (scaled(values.valkey?.resources)) valkey.resources = scaled(values.valkey.resources);
    if (scaled(values.valkey?.initResources)) valkey.initResources = scaled(values.valkey.initResources);
    const exporter = scaled(values.valkey?.metrics?.exporter?.resources);
    if (exporter) valkey.metrics = { exporter: { resources: exporter } };
    for (const container of initContainers ?? []) {
      const requests = scaled(container.resources);
      if (requests) container.resources = { ...container.resources, ...requests };
    }
    fit = mergeValues(fit, { valkey });
    record.requestScale = rules.requestScale;
  }
  if (setting("VALKEY_FIT_VOLUMES") === "scale" && values.valkey?.replica?.persistence?.size) {
    fit = mergeValues(fit, {
      valkey: {
        replica: { persistence: { size: scaleBytes(values.valkey.replica.persistence.size, rules.volumeScale) } },
      },
    });
    record.volumeScale = rules.volumeScale;
  }

  if (initContainers && (record.images?.initContainers || record.requestScale))
    fit = mergeValues(fit, { valkey: { extraInitContainers: initContainers } });

  const nodes = (await cluster.kube.core.listNode()).items.length;
  const required = values.valkey?.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
  if (required && nodes < pods && setting("VALKEY_FIT_SPREAD") === "relax") {
    fit = mergeValues(fit, {
      valkey: {
        affinity: {
          podAntiAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: null,
            preferredDuringSchedulingIgnoredDuringExecution: required.map((term: Values) => ({
              weight: 100,
              podAffinityTerm: term,
            })),
          },
        },
      },
    });
    record.antiAffinityRelaxed = { pods, nodes };
  }
  return { values: fit, record };
}
