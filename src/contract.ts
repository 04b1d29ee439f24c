import { existsSync, readFileSync } from "node:fs";
import { basename, join, relative } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { LineCounter, parseDocument } from "yaml";
import { environmentValues, isMap, serverConfigOf, type Values } from "./chart/values.ts";
import { environments, environmentValuesFile, WRAPPER_CHART } from "./environments.ts";

/**
 * The platform's contract (charts/valkey/contract.yaml): what each environment must keep
 * whatever its values say. Read and validated here; judged on paper against a revision's
 * values (`judgeValues`) and live by the contract checks (src/checks/contract.ts).
 */

export const CONTRACT_FILE = "contract.yaml";

export interface Range {
  atLeast?: number;
  atMost?: number;
}

export interface Budgets {
  primaryRestart: { writesUnavailableSeconds: number };
  upgradeStep: { writesUnavailableSeconds: number; loadP99Millis: number; loadErrorSeconds: number };
}

/** One environment's promises, defaults applied. */
export interface Terms {
  replicas?: Range;
  minReplicasToWrite?: Range;
  appendOnly?: boolean;
  authentication?: { users: string[] };
  networkPolicy?: { allowedNamespaces: string[]; allowedPodLabels: Record<string, string>[] };
  podDisruptionBudget?: { maxUnavailable: Range };
  antiAffinity?: "required";
  reclaimPolicy?: "Retain" | "Delete";
  podSecurity?: "restricted";
  budgets: Budgets;
}

export type PromiseName = Exclude<keyof Terms, "budgets">;
export const PROMISES: readonly PromiseName[] = [
  "replicas",
  "minReplicasToWrite",
  "appendOnly",
  "authentication",
  "networkPolicy",
  "podDisruptionBudget",
  "antiAffinity",
  "reclaimPolicy",
  "podSecurity",
];

export interface Contract {
  /** The file, as given. */
  file: string;
  /** Terms of every environment of the chart (defaults for those the file does not name). */
  terms: Record<string, Terms>;
  /** The raw entries, to compare two contracts. */
  raw: Values;
  /** Line of a promise in the file (the environment's own entry, else the default's). */
  line(env: string, promise: PromiseName | "budgets"): number | undefined;
}

export class ContractError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ContractError";
  }
}

const BUDGET_DEFAULTS: Budgets = {
  primaryRestart: { writesUnavailableSeconds: 60 },
  upgradeStep: { writesUnavailableSeconds: 60, loadP99Millis: 2000, loadErrorSeconds: 60 },
};

/** Reads and validates a contract; every problem names the file, the line and the fix. */
export function readContract(file: string, chartDir = WRAPPER_CHART): Contract {
  const text = readFileSync(file, "utf8");
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  const shown = relative(process.cwd(), file) || file;
  const lineOf = (path: (string | number)[]): number | undefined => {
    const node = doc.getIn(path, true) as { range?: [number, number, number] } | undefined;
    const pair =
      path.length > 0 ? (doc.getIn(path.slice(0, -1), true) as { items?: unknown[] } | undefined) : undefined;
    const keyNode = pair?.items?.find((item) => (item as { key?: { value?: unknown } }).key?.value === path.at(-1)) as
      | { key?: { range?: [number, number, number] } }
      | undefined;
    const offset = keyNode?.key?.range?.[0] ?? node?.range?.[0];
    return offset === undefined ? undefined : lines.linePos(offset).line;
  };
  const fail = (path: (string | number)[], problem: string, fix: string): never => {
    const line = lineOf(path);
    throw new ContractError(`${shown}${line ? `:${line}` : ""}: ${path.join(".")}: ${problem}. Fix: ${fix}`);
  };
  if (doc.errors[0]) {
    const line = lines.linePos(doc.errors[0].pos[0]).line;
    throw new ContractError(`${shown}:${line}: not valid YAML: ${doc.errors[0].message.split("\n")[0]}`);
  }
  const raw = (doc.toJS() ?? {}) as Values;
  if (!isMap(raw)) throw new ContractError(`${shown}: the contract is a map with defaults and environments`);
  for (const key of Object.keys(raw)) {
    if (key !== "defaults" && key !== "environments")
      fail([key], "is not a section of the contract", "use defaults: and environments: only");
  }
  const known = environments(chartDir);
  const entries = (raw.environments ?? {}) as Values;
  if (!isMap(entries)) fail(["environments"], "must map environment names to their promises", "see the file's header");
  for (const env of Object.keys(entries)) {
    if (!known.includes(env))
      fail(
        ["environments", env],
        `names no environment of the chart (${known.join(", ")})`,
        `add charts/valkey/values.${env}.yaml, or remove or rename this entry`,
      );
  }
  const validate = (section: Values, path: string[]) => {
    if (!isMap(section)) fail(path, "must be a map of promises", "see the file's header for the promises");
    for (const [key, value] of Object.entries(section)) {
      const at = [...path, key];
      const range = (v: unknown, p: string[]) => {
        if (!isMap(v) || Object.keys(v).length === 0)
          fail(p, "must be a range such as {atLeast: 1}", "give atLeast and/or atMost");
        for (const [bound, n] of Object.entries(v as Values)) {
          if (bound !== "atLeast" && bound !== "atMost") fail([...p, bound], "is not a bound", "use atLeast or atMost");
          if (!Number.isInteger(n) || (n as number) < 0)
            fail([...p, bound], `must be a whole number, got ${JSON.stringify(n)}`, "give a number such as 1");
        }
        const { atLeast, atMost } = v as Range;
        if (atLeast !== undefined && atMost !== undefined && atLeast > atMost)
          fail(p, `asks at least ${atLeast} and at most ${atMost}: nothing keeps it`, "make atLeast at most atMost");
      };
      const strings = (v: unknown) => Array.isArray(v) && v.every((item) => typeof item === "string" && item !== "");
      const labelSets = (v: unknown) =>
        Array.isArray(v) &&
        v.every((set) => isMap(set) && Object.values(set).every((label) => typeof label === "string"));
      switch (key) {
        case "replicas":
        case "minReplicasToWrite":
          range(value, at);
          break;
        case "appendOnly":
          if (value !== true)
            fail(at, `must be true (got ${JSON.stringify(value)})`, "remove the line to make no promise");
          break;
        case "authentication":
          if (!isMap(value) || !strings(value.users) || value.users.length === 0)
            fail(at, "must list the ACL users that must exist", "write users: [default, ...]");
          break;
        case "networkPolicy":
          if (
            !isMap(value) ||
            Object.keys(value).some((k) => k !== "allowedNamespaces" && k !== "allowedPodLabels") ||
            !strings(value.allowedNamespaces) ||
            !labelSets(value.allowedPodLabels)
          )
            fail(
              at,
              "must give allowedNamespaces (names) and allowedPodLabels (label sets), both lists",
              "list exactly the clients admitted, [] for none",
            );
          break;
        case "podDisruptionBudget":
          if (!isMap(value) || !("maxUnavailable" in value))
            fail(at, "must bound maxUnavailable", "write maxUnavailable: {atLeast: 1}");
          range(value.maxUnavailable, [...at, "maxUnavailable"]);
          break;
        case "antiAffinity":
          if (value !== "required")
            fail(at, `must be "required" (got ${JSON.stringify(value)})`, "remove the line to make no promise");
          break;
        case "reclaimPolicy":
          if (value !== "Retain" && value !== "Delete")
            fail(at, `must be Retain or Delete (got ${JSON.stringify(value)})`, "use Retain");
          break;
        case "podSecurity":
          if (value !== "restricted")
            fail(
              at,
              `must be "restricted" (got ${JSON.stringify(value)}): the only level the contract can promise`,
              "remove the line to make no promise",
            );
          break;
        case "budgets":
          if (!isMap(value)) fail(at, "must map budgets to their figures", "write primaryRestart: and upgradeStep:");
          for (const [kind, budget] of Object.entries(value as Values)) {
            const defaults = BUDGET_DEFAULTS[kind as keyof Budgets] as Record<string, number> | undefined;
            if (!defaults) fail([...at, kind], "is not a budget", "use primaryRestart or upgradeStep");
            if (!isMap(budget))
              fail([...at, kind], "must map figures to numbers", `give ${Object.keys(defaults as object).join(", ")}`);
            for (const [name, n] of Object.entries(budget as Values)) {
              if (!(name in (defaults as Record<string, number>)))
                fail(
                  [...at, kind, name],
                  "is not a figure of this budget",
                  `use ${Object.keys(defaults as object).join(", ")}`,
                );
              if (typeof n !== "number" || n <= 0)
                fail([...at, kind, name], `must be a positive number, got ${JSON.stringify(n)}`, "give a number");
            }
          }
          break;
        default:
          fail(at, "is not a promise", `use one of ${[...PROMISES, "budgets"].join(", ")}`);
      }
    }
  };
  validate((raw.defaults ?? {}) as Values, ["defaults"]);
  for (const [env, entry] of Object.entries(entries)) validate((entry ?? {}) as Values, ["environments", env]);

  const terms: Record<string, Terms> = {};
  for (const env of known) {
    const defaults = (raw.defaults ?? {}) as Values;
    const own = (entries[env] ?? {}) as Values;
    const budgets = {
      primaryRestart: {
        ...BUDGET_DEFAULTS.primaryRestart,
        ...defaults.budgets?.primaryRestart,
        ...own.budgets?.primaryRestart,
      },
      upgradeStep: { ...BUDGET_DEFAULTS.upgradeStep, ...defaults.budgets?.upgradeStep, ...own.budgets?.upgradeStep },
    };
    terms[env] = { ...defaults, ...own, budgets } as Terms;
  }
  return {
    file,
    terms,
    raw,
    line: (env, promise) =>
      entries[env] && promise in (entries[env] ?? {})
        ? lineOf(["environments", env, promise])
        : lineOf(["defaults", promise]),
  };
}

/** The contract beside a wrapper chart (`chartDir`/contract.yaml), or undefined when that revision has none. */
export function contractOf(chartDir: string): Contract | undefined {
  const file = join(chartDir, CONTRACT_FILE);
  return existsSync(file) ? readContract(file, chartDir) : undefined;
}

let worktreeContract: Contract | undefined;

/** The working tree's contract, validated, with every environment file checked against it. */
export function platformContract(): Contract {
  if (!worktreeContract) {
    const contract = contractOf(WRAPPER_CHART);
    if (!contract)
      throw new ContractError(`${join(WRAPPER_CHART, CONTRACT_FILE)} is missing: the platform's contract is required`);
    assertEnvironmentsKeep(contract, WRAPPER_CHART);
    worktreeContract = contract;
  }
  return worktreeContract;
}

/** The words for a promise: "prod-01 authentication". */
export function promiseLabel(env: string, promise: PromiseName): string {
  return `${env} ${promise}`;
}

export interface PromiseVerdict {
  promise: PromiseName;
  /** What the contract asks, in words. */
  asks: string;
  kept: boolean;
  /** What the values say, in words. */
  found: string;
  /** Where in the values to look (a dotted path). */
  path: string;
}

const rangeWords = (r: Range) =>
  [r.atLeast !== undefined ? `at least ${r.atLeast}` : "", r.atMost !== undefined ? `at most ${r.atMost}` : ""]
    .filter(Boolean)
    .join(" and ");
export const inRange = (value: unknown, r: Range) =>
  typeof value === "number" &&
  Number.isInteger(value) &&
  (r.atLeast === undefined || value >= r.atLeast) &&
  (r.atMost === undefined || value <= r.atMost);

const sortedLabels = (sets: Record<string, string>[]) =>
  sets.map((set) => JSON.stringify(Object.fromEntries(Object.entries(set).sort()))).sort();

/** What the contract asks of one promise, in words. */
export function asks(terms: Terms, promise: PromiseName): string {
  switch (promise) {
    case "replicas":
      return `replicas ${rangeWords(terms.replicas as Range)}`;
    case "minReplicasToWrite":
      return `minReplicasToWrite ${rangeWords(terms.minReplicasToWrite as Range)}`;
    case "appendOnly":
      return "appendonly yes";
    case "authentication":
      return `authentication on, users ${terms.authentication?.users.join(", ")}`;
    case "networkPolicy":
      return `a NetworkPolicy admitting exactly namespaces [${terms.networkPolicy?.allowedNamespaces.join(", ")}] and pods labelled ${JSON.stringify(terms.networkPolicy?.allowedPodLabels)}`;
    case "podDisruptionBudget":
      return `a PodDisruptionBudget with maxUnavailable ${rangeWords(terms.podDisruptionBudget?.maxUnavailable as Range)}`;
    case "antiAffinity":
      return "required pod anti-affinity per host (kubernetes.io/hostname)";
    case "reclaimPolicy":
      return `volumes with reclaimPolicy ${terms.reclaimPolicy}`;
    case "podSecurity":
      return `every pod meeting the Pod Security Standard ${terms.podSecurity}`;
  }
}

/** Judges a revision's merged values (values.yaml + values.<env>.yaml) against an environment's promises. */
export function judgeValues(terms: Terms, values: Values): PromiseVerdict[] {
  const valkey = values.valkey ?? {};
  const verdicts: PromiseVerdict[] = [];
  const judge = (promise: PromiseName, kept: boolean, found: string, path: string) =>
    verdicts.push({ promise, asks: asks(terms, promise), kept, found, path });
  for (const promise of PROMISES) {
    if (terms[promise] === undefined) continue;
    switch (promise) {
      case "replicas": {
        const n = valkey.replica?.replicas;
        judge(promise, inRange(n, terms.replicas as Range), `replicas ${JSON.stringify(n)}`, "valkey.replica.replicas");
        break;
      }
      case "minReplicasToWrite": {
        const n = valkey.replica?.minReplicasToWrite ?? 0;
        judge(
          promise,
          inRange(n, terms.minReplicasToWrite as Range),
          `minReplicasToWrite ${JSON.stringify(n)}`,
          "valkey.replica.minReplicasToWrite",
        );
        break;
      }
      case "appendOnly": {
        const value = serverConfigOf(values).appendonly ?? "no (Valkey's default)";
        judge(promise, value === "yes", `appendonly ${value}`, "valkey.valkeyConfig");
        break;
      }
      case "authentication": {
        const enabled = !!valkey.auth?.enabled;
        const users = Object.keys(valkey.auth?.aclUsers ?? {});
        const missing = (terms.authentication?.users ?? []).filter((u) => !users.includes(u));
        judge(
          promise,
          enabled && missing.length === 0,
          !enabled ? "valkey.auth.enabled is not true" : `users ${users.join(", ")} (missing ${missing.join(", ")})`,
          !enabled ? "valkey.auth.enabled" : "valkey.auth.aclUsers",
        );
        break;
      }
      case "networkPolicy": {
        const np = values.networkPolicy ?? {};
        const want = terms.networkPolicy as NonNullable<Terms["networkPolicy"]>;
        const namespaces = [...(np.allowedNamespaces ?? [])].sort();
        const labels = sortedLabels(np.allowedPodLabels ?? []);
        const kept =
          !!np.enabled &&
          isDeepStrictEqual(namespaces, [...want.allowedNamespaces].sort()) &&
          isDeepStrictEqual(labels, sortedLabels(want.allowedPodLabels));
        judge(
          promise,
          kept,
          np.enabled
            ? `namespaces [${namespaces.join(", ")}], pods labelled ${JSON.stringify(np.allowedPodLabels ?? [])}`
            : "networkPolicy.enabled is not true",
          np.enabled ? "networkPolicy" : "networkPolicy.enabled",
        );
        break;
      }
      case "podDisruptionBudget": {
        const pdb = values.podDisruptionBudget ?? {};
        judge(
          promise,
          !!pdb.enabled && inRange(pdb.maxUnavailable, terms.podDisruptionBudget?.maxUnavailable as Range),
          pdb.enabled
            ? `maxUnavailable ${JSON.stringify(pdb.maxUnavailable)}`
            : "podDisruptionBudget.enabled is not true",
          pdb.enabled ? "podDisruptionBudget.maxUnavailable" : "podDisruptionBudget.enabled",
        );
        break;
      }
      case "antiAffinity": {
        const required = valkey.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
        const perHost =
          Array.isArray(required) && required.some((t: Values) => t?.topologyKey === "kubernetes.io/hostname");
        judge(
          promise,
          perHost,
          perHost ? "required per host" : required ? "required, not per host" : "no required rule (preferred or none)",
          "valkey.affinity.podAntiAffinity",
        );
        break;
      }
      case "reclaimPolicy": {
        const sc = values.storageClass ?? {};
        const policy = sc.create ? (sc.reclaimPolicy ?? "Delete") : undefined;
        judge(
          promise,
          policy === terms.reclaimPolicy,
          policy
            ? `reclaimPolicy ${policy}`
            : "the chart creates no StorageClass: the volumes' policy is the existing class's",
          "storageClass.reclaimPolicy",
        );
        break;
      }
      case "podSecurity": {
        const problems = restrictedProblems(values);
        judge(
          promise,
          problems.length === 0,
          problems.length === 0 ? "security contexts that meet it" : problems.map((p) => p.problem).join("; "),
          problems[0]?.path ?? "valkey.securityContext",
        );
        break;
      }
    }
  }
  return verdicts;
}

/**
 * What in a revision's values breaks the Pod Security Standard `restricted` for the pods
 * the wrapper declares (the server, upstream's init container, the exporter, the wrapper's
 * init containers), on paper: the running pods are judged by the API server itself
 * (contract.pod-security). Keys the values leave unset count as unset: a revision must say
 * what restricted asks, not rely on a default of an upstream version it may not pin.
 */
export function restrictedProblems(values: Values): { problem: string; path: string }[] {
  const valkey = values.valkey ?? {};
  const problems: { problem: string; path: string }[] = [];
  const pod = (valkey.podSecurityContext ?? {}) as Values;
  const containers: [string, Values][] = [["valkey.securityContext", (valkey.securityContext ?? {}) as Values]];
  if (valkey.metrics?.enabled)
    containers.push([
      "valkey.metrics.exporter.securityContext",
      (valkey.metrics?.exporter?.securityContext ?? {}) as Values,
    ]);
  for (const [i, init] of ((valkey.extraInitContainers ?? []) as Values[]).entries())
    containers.push([`valkey.extraInitContainers.${i}.securityContext`, (init?.securityContext ?? {}) as Values]);
  const seccomp = (context: Values) => ["RuntimeDefault", "Localhost"].includes(context.seccompProfile?.type);
  if (pod.runAsUser === 0)
    problems.push({ problem: "the pod runs as user 0", path: "valkey.podSecurityContext.runAsUser" });
  if (pod.runAsNonRoot !== true && !containers.every(([, c]) => c.runAsNonRoot === true))
    problems.push({ problem: "runAsNonRoot is not true", path: "valkey.podSecurityContext.runAsNonRoot" });
  if (!seccomp(pod) && !containers.every(([, c]) => seccomp(c)))
    problems.push({ problem: "no RuntimeDefault seccomp profile", path: "valkey.podSecurityContext.seccompProfile" });
  for (const [path, c] of containers) {
    if (c.privileged === true) problems.push({ problem: `${path}.privileged is true`, path });
    if (c.allowPrivilegeEscalation !== false)
      problems.push({ problem: `${path}.allowPrivilegeEscalation is not false`, path });
    if (!(c.capabilities?.drop ?? []).includes("ALL"))
      problems.push({ problem: `${path}.capabilities.drop lacks ALL`, path });
    const added = ((c.capabilities?.add ?? []) as string[]).filter((cap) => cap !== "NET_BIND_SERVICE");
    if (added.length > 0) problems.push({ problem: `${path}.capabilities.add has ${added.join(", ")}`, path });
    if (c.runAsUser === 0) problems.push({ problem: `${path} runs as user 0`, path });
    if (c.runAsNonRoot === false) problems.push({ problem: `${path}.runAsNonRoot is false`, path });
    if (c.seccompProfile !== undefined && !seccomp(c))
      problems.push({ problem: `${path}.seccompProfile is ${c.seccompProfile?.type ?? "empty"}`, path });
  }
  return problems;
}

/** Whether a values file sets a dotted path itself. */
function setsPath(file: string, path: string): boolean {
  return parseDocument(readFileSync(file, "utf8")).hasIn(path.split("."));
}

/** The line of a dotted values path in a values file (its nearest existing parent), or undefined. */
export function lineInValuesFile(file: string, path: string): number | undefined {
  const lines = new LineCounter();
  const doc = parseDocument(readFileSync(file, "utf8"), { lineCounter: lines });
  const parts = path.split(".");
  for (let n = parts.length; n > 0; n--) {
    const parent = doc.getIn(parts.slice(0, n - 1), true) as
      | { items?: { key?: { value?: unknown; range?: number[] } }[] }
      | undefined;
    const item = (n === 1 ? (doc.contents as typeof parent) : parent)?.items?.find(
      (i) => i.key?.value === parts[n - 1],
    );
    if (item?.key?.range?.[0] !== undefined) return lines.linePos(item.key.range[0]).line;
  }
  return undefined;
}

/**
 * Every environment file of `chartDir` must keep the contract: a file that already breaks
 * it fails with the file, the line, the promise and the fix.
 */
export function assertEnvironmentsKeep(contract: Contract, chartDir: string, values?: (env: string) => Values): void {
  const problems: string[] = [];
  for (const env of environments(chartDir)) {
    const merged = values ? values(env) : environmentValues(env, chartDir);
    for (const verdict of judgeValues(contract.terms[env] as Terms, merged).filter((v) => !v.kept)) {
      // The file that sets the value: the environment's, else the chart's defaults (values.yaml).
      const envFile = environmentValuesFile(env, chartDir);
      const defaultsFile = join(chartDir, "values.yaml");
      const file = !setsPath(envFile, verdict.path) && setsPath(defaultsFile, verdict.path) ? defaultsFile : envFile;
      const line = lineInValuesFile(file, verdict.path);
      const contractLine = contract.line(env, verdict.promise);
      problems.push(
        `${relative(process.cwd(), file)}${line ? `:${line}` : ""}: breaks the platform's promise ${promiseLabel(env, verdict.promise)} (${relative(process.cwd(), contract.file)}${contractLine ? `:${contractLine}` : ""}): it asks ${verdict.asks}, the values say ${verdict.found} (${verdict.path}). Fix: restore ${verdict.path} in ${basename(file)}, or change the promise in the contract in a reviewed pull request`,
      );
    }
  }
  if (problems.length > 0) throw new ContractError(problems.join("\n"));
}

/** What changed between two contracts, in words: shown first in an upgrade report. */
export function contractChanges(before: Contract | undefined, after: Contract | undefined): string[] {
  if (!before && !after) return [];
  if (!before) return ["the platform's contract is introduced by this revision"];
  if (!after) return ["the platform's contract is REMOVED by this revision"];
  const changes: string[] = [];
  const envs = [...new Set([...Object.keys(before.terms), ...Object.keys(after.terms)])].sort();
  for (const env of envs) {
    const [b, a] = [before.terms[env], after.terms[env]];
    for (const key of [...PROMISES, "budgets"] as const) {
      const [x, y] = [b?.[key], a?.[key]];
      if (isDeepStrictEqual(x, y)) continue;
      const words = (v: unknown) => (v === undefined ? "no promise" : JSON.stringify(v));
      changes.push(`${env} ${key}: ${words(x)} -> ${words(y)}`);
    }
  }
  return changes;
}
