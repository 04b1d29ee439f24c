import { cpSync, existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { stringify } from "yaml";
import { declaredValues } from "../chart/release.ts";
import { featuresOf, isMap, mergeValues, readValuesFile, type Values } from "../chart/values.ts";
import { CHECKS } from "../checks/index.ts";
import { platformContract, type Terms } from "../contract.ts";
import {
  environments,
  environmentValuesFile,
  MUTATIONS,
  PROFILE_ENVIRONMENTS,
  profileFile,
  profiles,
  WRAPPER_CHART,
} from "../environments.ts";
import { scratchDir } from "../files.ts";
import { runOrThrow } from "../process.ts";

export { MUTATIONS };

/** The pseudo-check of mutations the install itself must refuse (schema, validation, preflight). */
export const INSTALL_CHECK = "install";

/**
 * A sabotaged variant of the wrapper or of an environment: a values layer applied after the
 * environment's file, and/or a patch applied to a temporary copy of the chart. It names the
 * check that must catch it.
 */
export interface Mutation {
  /** The file name without .yaml. */
  id: string;
  description: string;
  env: string;
  /** The check (src/checks id, or "install") that must fail... */
  catches: string;
  /** ...with a message matching this regular expression. */
  message: RegExp;
  /** Checks the mutation breaks as well; they must fail too, and no other check may. */
  alsoFails: string[];
  values?: Values;
  /**
   * A change to the environment's own values file, as a pull request would make it: merged
   * into the copy's values.<env>.yaml, so the checks expect it too. Only the platform's
   * contract (the contract.* checks) can catch such a change.
   */
  environmentFile?: Values;
  /** A unified diff, relative to charts/valkey, in fixtures/mutations/. */
  patch?: string;
  /** Installed into a namespace that enforces no Pod Security level (only the checks stand in the way). */
  unenforcedNamespace?: boolean;
  /** Profiles (fixtures/profiles/) the sabotaged release declares on top of its environment, e.g. tls. */
  profiles: string[];
}

const FIELDS = [
  "description",
  "env",
  "catches",
  "message",
  "alsoFails",
  "values",
  "environmentFile",
  "patch",
  "unenforcedNamespace",
  "profiles",
];

/** Reads and validates one mutation file; every problem names the file and the field. */
export function readMutation(file: string): Mutation {
  const id = file.replace(/^.*\//, "").replace(/\.yaml$/, "");
  const raw = readValuesFile(file);
  const problem = (field: string, what: string): never => {
    throw new Error(`${file}: ${field} ${what}`);
  };
  for (const key of Object.keys(raw))
    if (!FIELDS.includes(key)) problem(key, `is not a field of a mutation (fields: ${FIELDS.join(", ")})`);
  if (typeof raw.description !== "string" || raw.description.length < 10)
    problem("description", "must say in a sentence what is broken");
  if (!environments().includes(raw.env))
    problem("env", `must name an environment (${environments().join(", ")}), got ${JSON.stringify(raw.env)}`);
  const known = [INSTALL_CHECK, ...CHECKS.map((c) => c.id)];
  if (!known.includes(raw.catches))
    problem("catches", `must name a check (${known.join(", ")}), got ${JSON.stringify(raw.catches)}`);
  if (typeof raw.message !== "string" || raw.message === "")
    problem("message", "must be a regular expression the check's message matches");
  const alsoFails = raw.alsoFails ?? [];
  if (!Array.isArray(alsoFails) || alsoFails.some((c) => !known.includes(c) || c === raw.catches)) {
    problem("alsoFails", `must list other checks by id (${known.join(", ")})`);
  }
  if (raw.values !== undefined && !isMap(raw.values)) problem("values", "must be a map of values, like a values file");
  if (raw.environmentFile !== undefined && !isMap(raw.environmentFile))
    problem("environmentFile", "must be a map of values merged into the environment's values file");
  if (raw.patch !== undefined && !existsSync(join(MUTATIONS, raw.patch)))
    problem("patch", `names ${raw.patch}, which is not in ${MUTATIONS}`);
  if (raw.unenforcedNamespace !== undefined && raw.unenforcedNamespace !== true)
    problem("unenforcedNamespace", "may only be true (leave it out to install where the contract's level is enforced)");
  const knownProfiles = profiles();
  if (
    raw.profiles !== undefined &&
    (!Array.isArray(raw.profiles) || raw.profiles.some((p: unknown) => !knownProfiles.includes(String(p))))
  )
    problem("profiles", `must list profiles of fixtures/profiles/ (${knownProfiles.join(", ")})`);
  for (const profile of raw.profiles ?? [])
    if (PROFILE_ENVIRONMENTS[profile] && !PROFILE_ENVIRONMENTS[profile].includes(raw.env))
      problem("profiles", `${profile} fits ${PROFILE_ENVIRONMENTS[profile].join(", ")} only, not ${raw.env}`);
  if (raw.values === undefined && raw.patch === undefined && raw.environmentFile === undefined)
    problem("values", "environmentFile or patch must break something");
  return {
    id,
    description: raw.description,
    env: raw.env,
    catches: raw.catches,
    message: new RegExp(raw.message),
    alsoFails,
    values: raw.values,
    environmentFile: raw.environmentFile,
    patch: raw.patch,
    unenforcedNamespace: raw.unenforcedNamespace === true,
    profiles: raw.profiles ?? [],
  };
}

export function readCatalogue(dir = MUTATIONS): Mutation[] {
  return readdirSync(dir)
    .filter((name) => name.endsWith(".yaml"))
    .sort()
    .map((name) => readMutation(join(dir, name)));
}

/** Checks a mutation is expected to fail. */
export function affected(mutation: Mutation): string[] {
  return [mutation.catches, ...mutation.alsoFails];
}

/** Leaf paths a values layer sets (two mutations setting the same path cannot share an install). */
function leafPaths(values: Values, prefix = ""): string[] {
  return Object.entries(values).flatMap(([key, value]) => {
    const path = `${prefix}${key}`;
    return isMap(value) && Object.keys(value).length > 0 ? leafPaths(value, `${path}.`) : [path];
  });
}

/**
 * Whether a mutation's environment-file change turns a feature on or off (authentication,
 * NetworkPolicy...) in a way that changes which checks apply: that decides for the whole
 * install, so such a mutation goes alone.
 */
function changesApplicableChecks(mutation: Mutation): boolean {
  if (!mutation.environmentFile) return false;
  const terms = platformContract().terms[mutation.env] as Terms;
  const applicable = (values: Values) => {
    const features = featuresOf(values);
    return CHECKS.filter((c) => !c.disruptive && !c.notApplicable?.(features, terms)).map((c) => c.id);
  };
  const declared = declaredValues(mutation.env, WRAPPER_CHART, mutation.profiles.map(profileFile));
  return !isDeepStrictEqual(applicable(declared), applicable(mergeValues(declared, mutation.environmentFile)));
}

/** One install that carries one or more mutations which cannot disturb one another. */
export interface Batch {
  env: string;
  /** The profiles every mutation of the batch declares. */
  profiles: string[];
  mutations: Mutation[];
}

const DISRUPTIVE = new Set(CHECKS.filter((c) => c.disruptive).map((c) => c.id));

/**
 * Plans installs: mutations of one environment share an install when the checks they break
 * are disjoint, their values set different keys, at most one of them patches the chart,
 * and none breaks the install itself or a check that deletes pods, or needs a namespace
 * without Pod Security enforcement (those go alone).
 */
export function planBatches(mutations: Mutation[]): Batch[] {
  const batches: Batch[] = [];
  const alone = (m: Mutation) =>
    m.catches === INSTALL_CHECK ||
    m.unenforcedNamespace ||
    affected(m).some((c) => DISRUPTIVE.has(c)) ||
    changesApplicableChecks(m);
  for (const mutation of mutations) {
    const fits = (batch: Batch) =>
      batch.env === mutation.env &&
      isDeepStrictEqual(batch.profiles, mutation.profiles) &&
      !alone(mutation) &&
      batch.mutations.every((other) => {
        if (alone(other)) return false;
        if (affected(other).some((c) => affected(mutation).includes(c))) return false;
        if (other.patch && mutation.patch) return false;
        const layers = (m: Mutation) => [...leafPaths(m.values ?? {}), ...leafPaths(m.environmentFile ?? {})];
        const paths = layers(other);
        return layers(mutation).every(
          (p) => !paths.some((q) => p === q || p.startsWith(`${q}.`) || q.startsWith(`${p}.`)),
        );
      });
    const batch = batches.find(fits);
    if (batch) batch.mutations.push(mutation);
    else batches.push({ env: mutation.env, profiles: mutation.profiles, mutations: [mutation] });
  }
  return batches;
}

/** The values layer of a batch: every mutation's values merged (they set different keys). */
export function batchValues(batch: Batch): Values {
  return batch.mutations.reduce((merged, mutation) => mergeValues(merged, mutation.values ?? {}), {} as Values);
}

/**
 * The chart and values a batch installs: a temporary copy of charts/valkey with the batch's
 * patch and environment-file changes applied (the committed chart is never edited), and its
 * values layer as a file. The copy is also what the checks expect: its environment files
 * differ from the committed ones only where a mutation changes them as a pull request would.
 */
export async function prepareBatch(batch: Batch): Promise<{ chartDir: string; valuesFile: string }> {
  const dir = scratchDir(`mutation-${batch.env}-`);
  const chartDir = join(dir, "valkey");
  cpSync(WRAPPER_CHART, chartDir, {
    recursive: true,
    filter: (source) => !source.startsWith(join(WRAPPER_CHART, "charts")),
  });
  for (const mutation of batch.mutations) {
    if (mutation.patch)
      await runOrThrow("git", ["apply", "--verbose", join(MUTATIONS, mutation.patch)], { cwd: chartDir });
  }
  const changes = batch.mutations.filter((m) => m.environmentFile);
  if (changes.length > 0) {
    const envFile = environmentValuesFile(batch.env, chartDir);
    const merged = changes.reduce((values, m) => mergeValues(values, m.environmentFile ?? {}), readValuesFile(envFile));
    writeFileSync(
      envFile,
      `# values.${batch.env}.yaml as changed by ${changes.map((m) => m.id).join(", ")}\n${stringify(merged)}`,
    );
  }
  const valuesFile = join(dir, "mutation-values.yaml");
  writeFileSync(valuesFile, `# ${batch.mutations.map((m) => m.id).join(", ")}\n${stringify(batchValues(batch))}`);
  return { chartDir, valuesFile };
}
