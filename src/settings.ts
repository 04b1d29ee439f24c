import { homedir } from "node:os";
import { join, resolve } from "node:path";

/** Where the harness keeps what it builds or downloads: images, charts, helm binaries. */
export function cacheDir(): string {
  return resolve(process.env.VALKEY_HARNESS_CACHE ?? join(homedir(), ".cache", "valkey-harness"));
}

/** True under CI=true: a missing prerequisite fails instead of skipping. */
export function isCI(): boolean {
  return /^(1|true|yes)$/i.test(process.env.CI ?? "");
}

export class SettingError extends Error {
  constructor(variable: string, value: string, expected: string) {
    super(`${variable}=${JSON.stringify(value)} is not valid: ${expected}`);
    this.name = "SettingError";
  }
}

/** Reads an environment variable that must be one of `choices`. */
export function choiceSetting<T extends string>(variable: string, choices: readonly T[], fallback: T): T {
  const value = process.env[variable];
  if (value === undefined || value === "") return fallback;
  if (!(choices as readonly string[]).includes(value)) {
    throw new SettingError(variable, value, `use one of ${choices.join(", ")}`);
  }
  return value as T;
}

/** Reads a comma-separated list setting, e.g. VALKEY_ENVS=dev-01,prod-01. */
export function listSetting(variable: string): string[] | undefined {
  const value = process.env[variable];
  if (value === undefined || value.trim() === "") return undefined;
  return value
    .split(",")
    .map((item) => item.trim())
    .filter(Boolean);
}

/** Reads a whole-number setting within [min, max], e.g. VALKEY_CLUSTER_AGENTS=2. */
export function integerSetting(variable: string, min: number, max: number, fallback: number): number {
  const value = process.env[variable];
  if (value === undefined || value.trim() === "") return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < min || parsed > max) {
    throw new SettingError(variable, value, `use a whole number from ${min} to ${max}`);
  }
  return parsed;
}
