import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The wrapper chart as committed: charts/valkey. */
export const WRAPPER_CHART = fileURLToPath(new URL("../charts/valkey/", import.meta.url));

/** Every environment with a values.<env>.yaml beside the chart (in `chartDir`), sorted. */
export function environments(chartDir = WRAPPER_CHART): string[] {
  return readdirSync(chartDir)
    .map((name) => /^values\.(.+)\.yaml$/.exec(name)?.[1])
    .filter((env): env is string => !!env)
    .sort();
}

export function environmentValuesFile(env: string, chartDir = WRAPPER_CHART): string {
  const file = join(chartDir, `values.${env}.yaml`);
  if (!existsSync(file)) {
    throw new Error(
      `no values file for environment "${env}": expected ${file} (known: ${environments(chartDir).join(", ")})`,
    );
  }
  return file;
}

/** Persistence profiles (fixtures/persistence/<name>.yaml): values layers with a durability promise. */
export const PERSISTENCE_PROFILES = fileURLToPath(new URL("../fixtures/persistence/", import.meta.url));

export function persistenceProfiles(): string[] {
  return yamlNames(PERSISTENCE_PROFILES);
}

/** Profiles (fixtures/profiles/<name>.yaml): declared values layers on an environment, e.g. tls. */
export const PROFILES = fileURLToPath(new URL("../fixtures/profiles/", import.meta.url));

export function profiles(): string[] {
  return yamlNames(PROFILES);
}

/**
 * The environments a profile fits: tls replaces the exporter's args and volume mounts
 * wholesale (arrays replace arrays in Helm), which only dev-01's exporter (no user, no
 * password file) survives.
 */
export const PROFILE_ENVIRONMENTS: Record<string, readonly string[]> = { tls: ["dev-01"] };

export function profileFile(name: string): string {
  const file = join(PROFILES, `${name}.yaml`);
  if (!existsSync(file)) throw new Error(`no profile "${name}": expected ${file} (known: ${profiles().join(", ")})`);
  return file;
}

export const MUTATIONS = fileURLToPath(new URL("../fixtures/mutations/", import.meta.url));

/** The mutations of fixtures/mutations/, by id. */
export function mutationIds(): string[] {
  return yamlNames(MUTATIONS);
}

function yamlNames(dir: string): string[] {
  return readdirSync(dir)
    .map((name) => /^(.+)\.yaml$/.exec(name)?.[1])
    .filter((name): name is string => !!name)
    .sort();
}
