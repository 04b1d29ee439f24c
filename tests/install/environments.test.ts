import { describe, expect } from "vitest";
import { servedProvisioners } from "../../src/chart/fit.ts";
import { environmentsOf } from "../../src/chart/values.ts";
import { expectedOf } from "../../src/checks/index.ts";
import { clusterUnavailable, test } from "../support/fixtures.ts";
import { describeChecksOfInstalled } from "../support/install-checks.ts";

/**
 * Every environment installed as its values file says (fitted to the cluster by the
 * documented rules), then every check of src/checks that applies to it. Environments
 * install and run side by side; the checks of one environment run in order, the ones
 * that delete pods or volumes last.
 */
describe.skipIf(!!clusterUnavailable).concurrent.each(environmentsOf("VALKEY_ENVS"))("environment %s", (env) => {
  test.override({ env });
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

  describeChecksOfInstalled(env);
});
