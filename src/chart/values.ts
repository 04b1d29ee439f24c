import { readFileSync } from "node:fs";
import { join } from "node:path";
import { LineCounter, parseDocument } from "yaml";
import { environmentValuesFile, WRAPPER_CHART } from "../environments.ts";
import { type SettingName, setting } from "../settings.ts";

// biome-ignore lint/suspicious/noExplicitAny: Helm values are arbitrary YAML
export type Values = Record<string, any>;

export class ValuesFileError extends Error {
  constructor(file: string, line: number | undefined, problem: string) {
    super(`${file}${line ? `:${line}` : ""}: ${problem}`);
    this.name = "ValuesFileError";
  }
}

/**
 * Reads a values file as Helm would accept it: valid YAML whose top level is a map (or
 * empty). Anything else fails with the file, the line and the problem.
 */
export function readValuesFile(file: string): Values {
  const text = readFileSync(file, "utf8");
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const [error] = doc.errors;
  if (error) {
    const line = lines.linePos(error.pos[0]).line;
    throw new ValuesFileError(
      file,
      line,
      `not valid YAML: ${error.message.split("\n")[0]}. Fix the syntax on that line.`,
    );
  }
  const value: unknown = doc.toJS();
  if (value === null || value === undefined) return {};
  if (typeof value !== "object" || Array.isArray(value)) {
    const line = doc.contents?.range ? lines.linePos(doc.contents.range[0]).line : 1;
    throw new ValuesFileError(
      file,
      line,
      `the top level is ${Array.isArray(value) ? "a list" : `a ${typeof value}`}, not a map of keys to values. A values file maps keys such as "valkey:" and "storageClass:" to their settings.`,
    );
  }
  return value as Values;
}

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

export function isMap(value: unknown): value is Values {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * What an environment asks for: the wrapper's values.yaml with values.<env>.yaml on top,
 * merged by the harness itself (never read back from Helm), so that the checks compare
 * the cluster with the files and not with what Helm reports.
 */
export function environmentValues(env: string, chartDir = WRAPPER_CHART): Values {
  return mergeValues(
    readValuesFile(join(chartDir, "values.yaml")),
    readValuesFile(environmentValuesFile(env, chartDir)),
  );
}

/** The environments a suite runs on, from its setting (VALKEY_ENVS, VALKEY_FAILOVER_ENVS, ...). */
export function environmentsOf(
  variable: Extract<
    SettingName,
    "VALKEY_ENVS" | "VALKEY_FAILOVER_ENVS" | "VALKEY_UPGRADE_ENVS" | "VALKEY_GITOPS_ENVS" | "VALKEY_ALERT_ENVS"
  >,
): string[] {
  return setting(variable);
}

/** What an environment turns on, known before anything is installed. */
export interface Features {
  auth: boolean;
  networkPolicy: boolean;
  podDisruptionBudget: boolean;
  metrics: boolean;
  requiredAntiAffinity: boolean;
  /** The chart creates its own StorageClass. */
  storageClass: boolean;
  /** The server configuration turns the append-only file on. */
  appendOnly: boolean;
  /** The environment adds server configuration (valkey.valkeyConfig). */
  serverConfig: boolean;
  /** Valkey serves TLS only (valkey.tls.enabled). */
  tls: boolean;
}

/** valkey.valkeyConfig as directive -> value ("save 60 1000" -> save: "60 1000"); later lines win, as in Valkey. */
export function serverConfigOf(values: Values): Record<string, string> {
  const config: Record<string, string> = {};
  for (const line of String(values.valkey?.valkeyConfig ?? "").split("\n")) {
    const trimmed = line.trim();
    if (!trimmed || trimmed.startsWith("#")) continue;
    const [directive, ...rest] = trimmed.split(/\s+/);
    config[(directive as string).toLowerCase()] = rest.join(" ").replace(/^"(.*)"$/, "$1");
  }
  return config;
}

export type Feature = keyof Features;

export function featuresOf(values: Values): Features {
  return {
    auth: !!values.valkey?.auth?.enabled,
    networkPolicy: !!values.networkPolicy?.enabled,
    podDisruptionBudget: !!values.podDisruptionBudget?.enabled,
    metrics: !!values.valkey?.metrics?.enabled,
    requiredAntiAffinity: !!values.valkey?.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution,
    storageClass: !!values.storageClass?.create,
    appendOnly: serverConfigOf(values).appendonly === "yes",
    serverConfig: Object.keys(serverConfigOf(values)).length > 0,
    tls: !!values.valkey?.tls?.enabled,
  };
}

/** Whether an environment turns a feature on. */
export function environmentHas(env: string, feature: Feature): boolean {
  return featuresOf(environmentValues(env))[feature];
}
