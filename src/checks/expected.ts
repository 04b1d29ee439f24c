import { existsSync } from "node:fs";
import { join } from "node:path";
import { WRAPPER_INIT_CONTAINER } from "../chart/fit.ts";
import { bytes, scaleBytes, scaleResourceList } from "../chart/quantity.ts";
import type { Release } from "../chart/release.ts";
import { serverConfigOf, type Values } from "../chart/values.ts";

export interface Resources {
  limits?: Record<string, string | number>;
  requests?: Record<string, string | number>;
}

/**
 * What the checks expect of an installed environment: the environment's declared values
 * (values.yaml + values.<env>.yaml, merged by the harness) put through the fit rules the
 * harness applied (fixtures/fit/rules.yaml). Never read back from Helm, so a bug in value
 * layering, a stray values layer or a chart that ignores a value shows up as a difference.
 */
export interface Expected {
  env: string;
  replicas: number;
  /** Pods of the StatefulSet: the primary and the replicas. */
  pods: number;
  /**
   * The address replicas replicate from: the replication Service (`<fullname>-replication.<namespace>.svc.cluster.local`)
   * when the environment runs the wrapper's init container, which points them there; pod 0's
   * own DNS name (upstream's choice) otherwise.
   */
  primaryHost: string;
  minReplicasToWrite: number;
  minReplicasMaxLag: number;
  storageClass: {
    create: boolean;
    name: string;
    /** The provisioner the class must name on this cluster: the environment's, or its stand-in. */
    provisioner: string;
    parameters: Record<string, string>;
    reclaimPolicy: string;
    volumeBindingMode: string;
    allowVolumeExpansion: boolean;
  };
  volume: { size: string; accessModes: string[]; storageClassName: string };
  /** Resources of the containers, by container name. */
  resources: Record<string, Resources>;
  antiAffinity: { kind: "required" | "preferred" | "none"; topologyKey?: string };
  metrics: { enabled: boolean; port: number; path: string; serviceAnnotations: Record<string, string> };
  auth: {
    enabled: boolean;
    users: string[];
    /** valkey.auth.aclUsers.<user>.permissions, by user: the ACL rules after `user <name> on #<hash>`. */
    permissions: Record<string, string>;
    /** The ACL user replicas authenticate to the primary as (valkey.replica.replicationUser; upstream's default: default). */
    replicationUser: string;
    /** The ACL user the exporter logs in as (its --redis.user= arg), when metrics are on; else undefined. */
    exporterUser?: string;
  };
  networkPolicy: {
    enabled: boolean;
    allowedNamespaces: string[];
    allowedPodLabels: Record<string, string>[];
    metricsNamespaces: string[];
  };
  podDisruptionBudget: { enabled: boolean; maxUnavailable: number | string };
  /** Server settings the environment's valkeyConfig declares, directive -> value. */
  serverConfig: Record<string, string>;
  /**
   * What the wrapper derives (serverConfig): maxmemory in bytes, serverConfig's share of the
   * server container's memory limit (0 without a limit), and the eviction policy. Each is
   * undefined where valkeyConfig sets it itself (config.server-settings checks those).
   */
  memory: { maxmemory?: number; policy?: string };
}

/** upstream's replica.replicationUser when the environment names none. */
const UPSTREAM_REPLICATION_USER = "default";

/** The user the exporter logs in as: its --redis.user= arg, else (no ACL user given) default. */
function exporterUserOf(args: unknown): string {
  const list = Array.isArray(args) ? args.map(String) : [];
  const arg = list.findLast((a) => a.startsWith("--redis.user=") || a.startsWith("-redis.user="));
  return arg ? arg.slice(arg.indexOf("=") + 1) : "default";
}

function fitted(resources: Values | undefined, scale: number | undefined): Resources {
  const result: Resources = {};
  if (resources?.limits) result.limits = { ...resources.limits };
  if (resources?.requests) {
    result.requests = (scale ? scaleResourceList(resources.requests, scale) : { ...resources.requests }) as Record<
      string,
      string | number
    >;
  }
  return result;
}

/**
 * The address replicas follow: upstream points them at pod 0's own DNS name; the wrapper's
 * init container at the replication Service where the declaring chart has one (2.1.0 on),
 * at the primary Service before.
 */
function primaryHostOf(release: Release, valkey: Values): string {
  const zone = `${release.namespace}.svc.cluster.local`;
  if (!(valkey.extraInitContainers ?? []).some((c: Values) => c?.name === WRAPPER_INIT_CONTAINER))
    return `${release.podName(0)}.${release.fullname}-headless.${zone}`;
  return existsSync(join(release.declaredChartDir, "templates", "replication-service.yaml"))
    ? `${release.fullname}-replication.${zone}`
    : `${release.fullname}.${zone}`;
}

export function expectedOf(release: Release): Expected {
  const values = release.declared;
  const fit = release.fit;
  const valkey = values.valkey ?? {};
  const replica = valkey.replica ?? {};
  const antiAffinity = valkey.affinity?.podAntiAffinity ?? {};
  const required = antiAffinity.requiredDuringSchedulingIgnoredDuringExecution;
  const preferred = antiAffinity.preferredDuringSchedulingIgnoredDuringExecution;
  const kind = fit.antiAffinityRelaxed ? "preferred" : required ? "required" : preferred ? "preferred" : "none";
  const term = required?.[0] ?? preferred?.[0]?.podAffinityTerm;
  const metricsEnabled = !!valkey.metrics?.enabled;
  const sc = values.storageClass ?? {};
  return {
    env: release.env,
    replicas: Number(replica.replicas),
    pods: Number(replica.replicas) + 1,
    primaryHost: primaryHostOf(release, valkey),
    minReplicasToWrite: Number(replica.minReplicasToWrite ?? 0),
    minReplicasMaxLag: Number(replica.minReplicasMaxLag ?? 10),
    storageClass: {
      create: !!sc.create,
      name: fit.storageClassName?.to ?? sc.name,
      provisioner: fit.provisioner?.to ?? sc.provisioner,
      parameters: { ...(sc.parameters ?? {}) },
      reclaimPolicy: sc.reclaimPolicy ?? "Delete",
      volumeBindingMode: sc.volumeBindingMode ?? "Immediate",
      allowVolumeExpansion: !!sc.allowVolumeExpansion,
    },
    volume: {
      size: fit.volumeScale ? scaleBytes(replica.persistence.size, fit.volumeScale) : replica.persistence.size,
      accessModes: replica.persistence.accessModes ?? ["ReadWriteOnce"],
      storageClassName:
        fit.storageClassName && replica.persistence.storageClass === fit.storageClassName.from
          ? fit.storageClassName.to
          : replica.persistence.storageClass,
    },
    resources: {
      [release.fullname]: fitted(valkey.resources, fit.requestScale),
      [`${release.fullname}-init`]: fitted(valkey.initResources, fit.requestScale),
      ...(metricsEnabled ? { metrics: fitted(valkey.metrics?.exporter?.resources, fit.requestScale) } : {}),
    },
    antiAffinity: { kind, topologyKey: term?.topologyKey },
    metrics: {
      enabled: metricsEnabled,
      port: Number(valkey.metrics?.exporter?.port ?? 9121),
      path: valkey.metrics?.service?.annotations?.["prometheus.io/path"] ?? "/metrics",
      serviceAnnotations: { ...(valkey.metrics?.service?.annotations ?? {}) },
    },
    auth: {
      enabled: !!valkey.auth?.enabled,
      users: Object.keys(valkey.auth?.aclUsers ?? {}),
      permissions: Object.fromEntries(
        Object.entries<{ permissions?: string } | null>(valkey.auth?.aclUsers ?? {}).map(([user, spec]) => [
          user,
          String(spec?.permissions ?? ""),
        ]),
      ),
      replicationUser: String(replica.replicationUser ?? UPSTREAM_REPLICATION_USER),
      exporterUser: metricsEnabled ? exporterUserOf(valkey.metrics?.exporter?.args) : undefined,
    },
    networkPolicy: {
      enabled: !!values.networkPolicy?.enabled,
      allowedNamespaces: values.networkPolicy?.allowedNamespaces ?? [],
      allowedPodLabels: values.networkPolicy?.allowedPodLabels ?? [],
      metricsNamespaces: values.networkPolicy?.metricsNamespaces ?? [],
    },
    podDisruptionBudget: {
      enabled: !!values.podDisruptionBudget?.enabled,
      maxUnavailable: values.podDisruptionBudget?.maxUnavailable ?? 1,
    },
    serverConfig: serverConfigOf(values),
    memory: derivedMemory(values),
  };
}

/** What serverConfig derives; nothing where valkeyConfig sets it, or a revision of the chart derives none (before 2.0.0). */
function derivedMemory(values: Values): Expected["memory"] {
  const declared = serverConfigOf(values);
  const limit = values.valkey?.resources?.limits?.memory;
  const percent = values.serverConfig?.maxmemoryPercentOfLimit;
  const policy = values.serverConfig?.maxmemoryPolicy;
  return {
    maxmemory:
      "maxmemory" in declared || percent === undefined
        ? undefined
        : limit
          ? Math.floor((bytes(limit) * Number(percent)) / 100)
          : 0,
    policy: "maxmemory-policy" in declared || policy === undefined ? undefined : String(policy),
  };
}
