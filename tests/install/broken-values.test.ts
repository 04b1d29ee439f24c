import { describe, expect } from "vitest";
import { installRelease } from "../../src/chart/release.ts";
import { clusterUnavailable, test } from "../support/fixtures.ts";
import { valuesFile } from "../support/values-file.ts";

/** One broken value layered on a real environment: the install must stop and say why. */
describe.skipIf(!!clusterUnavailable)("an environment with a broken value", () => {
  test("stops before installing when the provisioner is one nothing in the cluster serves", async ({
    cluster,
    helm,
    namespace,
  }) => {
    const install = installRelease(helm, cluster, {
      env: "stag-01",
      namespace,
      release: "broken-provisioner",
      extraValuesFiles: [valuesFile("provisioner", "storageClass:\n  provisioner: ebs.csi.aws.cmo\n")],
    });
    await expect(install).rejects.toThrow(
      /storageClass\.provisioner "ebs\.csi\.aws\.cmo" \(values\.stag-01\.yaml\) is not served by this cluster/,
    );
    expect((await cluster.kube.pods(namespace)).length, "nothing was installed").toBe(0);
  });

  test("fails the install with the field's name when minReplicasToWrite exceeds replicas", async ({
    cluster,
    helm,
    namespace,
  }) => {
    const install = installRelease(helm, cluster, {
      env: "dev-01",
      namespace,
      release: "broken-min-replicas",
      extraValuesFiles: [valuesFile("min-replicas", "valkey:\n  replica:\n    minReplicasToWrite: 3\n")],
    });
    await expect(install).rejects.toThrow(
      /valkey\.replica\.minReplicasToWrite \(3\) is greater than valkey\.replica\.replicas \(2\)/,
    );
  });
});
