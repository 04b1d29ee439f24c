import { describe, expect } from "vitest";
import { servedProvisioners } from "../../src/chart/fit.ts";
import { environmentsOf, environmentValues, featuresOf } from "../../src/chart/values.ts";
import { CHECKS, CheckNotApplicable, expectedOf, unmetRequirement } from "../../src/checks/index.ts";
import { platformContract, type Terms } from "../../src/contract.ts";
import { clusterUnavailable, test } from "../support/fixtures.ts";

/**
 * Every environment installed as its values file says (fitted to the cluster by the
 * documented rules), then every check of src/checks that applies to it. Environments
 * install and run side by side; the checks of one environment run in order, the ones
 * that delete pods or volumes last.
 */
describe.skipIf(!!clusterUnavailable).concurrent.each(environmentsOf("VALKEY_ENVS"))("environment %s", (env) => {
  test.override({ env });
  const features = featuresOf(environmentValues(env));
  test("is installed with the environment's own provisioner wherever the cluster serves it: the fit stands in only for a driver the cluster lacks", async ({
    release,
    cluster,
  }) => {
    const provisioner = release.declared.storageClass?.provisioner as string | undefined;
    if (!release.declared.storageClass?.create || !provisioner) return;
    const served = await servedProvisioners(cluster);
    const installed = await cluster.kube.storage.readStorageClass({ name: expectedOf(release).storageClass.name });
    if (served.has(provisioner)) {
      expect(release.fit.provisioner, `${provisioner} is served here: no stand-in`).toBeUndefined();
      expect(installed.provisioner).toBe(provisioner);
    } else {
      console.log(
        `[install ${env}] this cluster does not serve ${provisioner}: stood in by ${release.fit.provisioner?.to}`,
      );
      expect(installed.provisioner).toBe(release.fit.provisioner?.to);
    }
  });

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
});
