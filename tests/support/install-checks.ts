import { describe } from "vitest";
import { declaredValues } from "../../src/chart/release.ts";
import { featuresOf } from "../../src/chart/values.ts";
import { CHECKS, CheckNotApplicable, expectedOf, unmetRequirement } from "../../src/checks/index.ts";
import { platformContract, type Terms } from "../../src/contract.ts";
import { WRAPPER_CHART } from "../../src/environments.ts";
import { test } from "./fixtures.ts";

/**
 * Every check of src/checks that applies to `env`, each a test named by its promise, run
 * in order against the describe's `release` (those that delete pods or volumes last).
 * `profiles`: the values layers the describe's release declares on top of the environment.
 */
export function describeChecksOfInstalled(env: string, profiles: readonly string[] = []): void {
  const features = featuresOf(declaredValues(env, WRAPPER_CHART, profiles));
  describe("as installed", { concurrent: false }, () => {
    for (const check of CHECKS) {
      const reason = check.notApplicable?.(features, platformContract().terms[env] as Terms);
      if (reason) {
        test.skip(`${check.promise} (not applicable: ${reason})`, () => {});
        continue;
      }
      test(check.promise, async ({ release, cluster, namespaces, monitoring, contract, skip }) => {
        const unmet = unmetRequirement(check, { cluster, monitoring });
        if (unmet) return skip(unmet);
        const running = check.run({
          release,
          cluster,
          namespaces,
          monitoring,
          contract,
          expected: expectedOf(release),
          log: (line) => console.log(line),
        });
        await running.catch((error: Error) => {
          if (error instanceof CheckNotApplicable) return skip(error.message);
          throw error;
        });
      });
    }
  });
}
