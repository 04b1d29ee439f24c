import { describe, expect, test } from "vitest";
import { Helm } from "../../src/chart/helm.ts";
import { renderChart, stageChart } from "../../src/chart/wrapper.ts";
import { environmentValuesFile } from "../../src/environments.ts";
import { valuesFile } from "../support/values-file.ts";

/**
 * The StorageClass is cluster-wide: a second release of the chart in the same cluster uses
 * the class the first (or the platform) created instead of creating it again.
 */
describe("a release that uses a class created elsewhere (storageClass.create: false)", () => {
  test("renders no StorageClass and claims volumes of the named class", async () => {
    const helm = await Helm.fromSettings();
    const chart = await stageChart(helm);
    const manifests = await renderChart(helm, chart, {
      valuesFiles: [
        environmentValuesFile("dev-01"),
        valuesFile(
          "shared-class",
          "storageClass:\n  create: false\nvalkey:\n  replica:\n    persistence:\n      storageClass: platform-ssd\n",
        ),
      ],
    });
    expect(manifests.filter((m) => m.kind === "StorageClass")).toEqual([]);
    const set = manifests.find((m) => m.kind === "StatefulSet");
    expect(
      set?.spec.volumeClaimTemplates.map((t: { spec: { storageClassName: string } }) => t.spec.storageClassName),
    ).toEqual(["platform-ssd"]);
  });
});
