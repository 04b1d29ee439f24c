import { cachedUpstreamVersions, compareVersions } from "../chart/upstream.ts";
import { environmentsOf } from "../chart/values.ts";
import { pinnedUpstreamVersion } from "../chart/wrapper.ts";
import { SettingError, setting } from "../settings.ts";

/** One environment installed at the first revision, then upgraded through the others in order. */
export interface Walk {
  env: string;
  /** Revision specs (versions, `worktree`, git refs), resolved by resolveRevision. */
  revisions: string[];
}

export interface UpgradePlan {
  walks: Walk[];
  /** In words, for the log and the report. */
  description: string;
  /** Why there is nothing to upgrade, or undefined. */
  nothingToDo?: string;
}

/**
 * What the upgrade suite upgrades, from the settings:
 * - VALKEY_UPGRADE_FROM + VALKEY_UPGRADE_TO: one hop per environment between two revisions
 *   (what a pull request does: its base branch's wrapper to its own);
 * - VALKEY_UPGRADE_PAIRS=1: every cached upstream version to every later one, each from a fresh install;
 * - otherwise the walk from the pin through every candidate in version order
 *   (VALKEY_UPGRADE_CANDIDATES, else every cached version newer than the pin).
 */
export function upgradePlan(): UpgradePlan {
  const envs = environmentsOf("VALKEY_UPGRADE_ENVS");
  const pinned = pinnedUpstreamVersion();
  const from = setting("VALKEY_UPGRADE_FROM");
  const to = setting("VALKEY_UPGRADE_TO");
  if ((from === undefined) !== (to === undefined)) {
    const [missing, given] = from === undefined ? ["VALKEY_UPGRADE_FROM", to] : ["VALKEY_UPGRADE_TO", from];
    throw new SettingError(
      missing,
      "",
      `set it too: an upgrade needs both ends (the other end is ${given}); e.g. npm run test:upgrade -- --from main --to worktree`,
    );
  }
  if (from !== undefined && to !== undefined) {
    return {
      walks: envs.map((env) => ({ env, revisions: [from, to] })),
      description: `${from} -> ${to} for ${envs.join(", ")}`,
    };
  }
  const cached = cachedUpstreamVersions();
  if (setting("VALKEY_UPGRADE_PAIRS")) {
    const versions = [...new Set([pinned, ...cached])].sort(compareVersions);
    const pairs = versions.flatMap((a, i) => versions.slice(i + 1).map((b) => [a, b]));
    return {
      walks: envs.flatMap((env) => pairs.map((revisions) => ({ env, revisions }))),
      description: `every pair of ${versions.join(", ")} for ${envs.join(", ")}`,
      nothingToDo: pairs.length === 0 ? `the chart cache holds no version besides the pinned ${pinned}` : undefined,
    };
  }
  const candidates = (
    setting("VALKEY_UPGRADE_CANDIDATES") ?? cached.filter((v) => compareVersions(v, pinned) > 0)
  ).sort(compareVersions);
  const notLater = candidates.filter((v) => compareVersions(v, pinned) <= 0);
  if (notLater.length > 0) {
    throw new SettingError(
      "VALKEY_UPGRADE_CANDIDATES",
      candidates.join(","),
      `${notLater.join(", ")} is not later than the pinned ${pinned}: the walk goes from the pin to later versions`,
    );
  }
  return {
    walks: envs.map((env) => ({ env, revisions: [pinned, ...candidates] })),
    description: `${[pinned, ...candidates].join(" -> ")} for ${envs.join(", ")}`,
    nothingToDo:
      candidates.length === 0
        ? `no upgrade candidate: the chart cache (${cached.join(", ") || "empty"}) holds no upstream version newer than the pinned ${pinned}, and VALKEY_UPGRADE_CANDIDATES is unset`
        : undefined,
  };
}
