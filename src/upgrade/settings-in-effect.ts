import type { Release } from "../chart/release.ts";
import { featuresOf } from "../chart/values.ts";
import {
  CHECKS,
  type CheckContext,
  CheckNotApplicable,
  expectedOf,
  termsOf,
  unmetRequirement,
} from "../checks/index.ts";
import type { SettingVerdict } from "../report/upgrade.ts";

/**
 * The environment's settings read back from the live release: every check of
 * src/checks that only reads (server configuration by CONFIG GET, the pod spec's resources
 * and placement, storage, metrics, authentication, NetworkPolicy, PDB), against what the
 * revision now installed declares. Checks that delete pods (durability) do not run here:
 * the rollout itself is the disruption.
 */
export async function settingsInEffect(
  release: Release,
  context: Omit<CheckContext, "release" | "expected">,
): Promise<SettingVerdict[]> {
  const features = featuresOf(release.declared);
  const verdicts: SettingVerdict[] = [];
  for (const check of CHECKS.filter((c) => !c.disruptive)) {
    const reason =
      check.notApplicable?.(features, termsOf({ ...context, release })) ?? unmetRequirement(check, context);
    if (reason || check.requires === "prometheus") {
      verdicts.push({
        check: check.id,
        promise: check.promise,
        result: "skipped",
        message: reason ?? "the Prometheus checks run in the install suite, not after each upgrade step",
      });
      continue;
    }
    try {
      await check.run({ ...context, release, expected: expectedOf(release) });
      verdicts.push({ check: check.id, promise: check.promise, result: "pass" });
    } catch (error) {
      if (error instanceof CheckNotApplicable) {
        verdicts.push({ check: check.id, promise: check.promise, result: "skipped", message: error.message });
        continue;
      }
      verdicts.push({
        check: check.id,
        promise: check.promise,
        result: "fail",
        message: error instanceof Error ? error.message : String(error),
      });
    }
  }
  return verdicts;
}
