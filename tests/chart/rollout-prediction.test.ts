import { beforeAll, describe, expect, test } from "vitest";
import { Helm } from "../../src/chart/helm.ts";
import { cachedUpstreamVersions } from "../../src/chart/upstream.ts";
import { pinnedUpstreamVersion, stageChart } from "../../src/chart/wrapper.ts";
import { environmentValuesFile } from "../../src/environments.ts";
import { predictRollout } from "../../src/upgrade/prediction.ts";
import { valuesFile } from "../support/values-file.ts";

/**
 * What a release change must do to the pods, predicted from two renderings of the chart:
 * the upgrade suite checks each prediction against what the cluster then did.
 */
describe("rollout prediction from rendered manifests", () => {
  let helm: Helm;
  let chart: string;
  const env = environmentValuesFile("dev-01");
  const predict = (beforeFiles: string[], afterFiles: string[], afterChart = chart) =>
    predictRollout(
      helm,
      { chart, valuesFiles: beforeFiles },
      { chart: afterChart, valuesFiles: afterFiles },
      "valkey",
      "data",
    );

  beforeAll(async () => {
    helm = await Helm.resolve("4");
    chart = await stageChart(helm);
  });

  test("the same chart and values change nothing: no restart", async () => {
    const prediction = await predict([env], [env]);
    expect(prediction.kind).toBe("no-restart");
    expect(prediction.otherChanges).toEqual([]);
  });

  test("a changed container resource changes the pod template: every pod restarts", async () => {
    const more = valuesFile("more-memory", "valkey:\n  resources:\n    limits:\n      memory: 3Gi\n");
    const prediction = await predict([env], [env, more]);
    expect(prediction.kind).toBe("restart");
    expect(prediction.podTemplateChanges.join("\n")).toContain("resources.limits.memory");
  });

  test("a larger volume changes a claim template, which the API server refuses: the upgrade must fail, naming the field", async () => {
    const bigger = valuesFile("bigger-volume", "valkey:\n  replica:\n    persistence:\n      size: 20Gi\n");
    const prediction = await predict([env], [env, bigger]);
    expect(prediction.kind).toBe("rejected");
    expect(prediction.reason).toContain("volumeClaimTemplates");
    expect(prediction.immutableChanges.join("\n")).toContain("storage");
  });

  test.each([
    ["parameters", "storageClass:\n  parameters:\n    type: pd-ssd\n"],
    ["reclaimPolicy", "storageClass:\n  reclaimPolicy: Retain\n"],
    ["provisioner", "storageClass:\n  provisioner: ebs.csi.aws.com\n"],
  ])(
    "a StorageClass %s change is refused by the API server: the upgrade must fail, naming the class and the migration",
    async (field, yaml) => {
      const prediction = await predict([env], [env, valuesFile(`class-${field}`, yaml)]);
      expect(prediction.kind, prediction.reason).toBe("rejected");
      expect(prediction.immutableStorageClass).toBe("valkey");
      expect(prediction.reason).toContain(`StorageClass valkey field(s) ${field} (delete the class first`);
      expect(prediction.immutableChanges.join("\n")).toContain(`StorageClass/valkey.${field}`);
    },
  );

  test("allowVolumeExpansion is the StorageClass field that may change: no restart, no refusal", async () => {
    const prediction = await predict(
      [env],
      [env, valuesFile("no-expansion", "storageClass:\n  allowVolumeExpansion: false\n")],
    );
    expect(prediction.kind, prediction.reason).toBe("no-restart");
    expect(prediction.otherChanges).toContain("StorageClass/valkey changed");
  });

  test("a Service annotation only changes the Service: no restart", async () => {
    const annotated = valuesFile("service-annotation", "valkey:\n  service:\n    annotations:\n      team: data\n");
    const prediction = await predict([env], [env, annotated]);
    expect(prediction.kind).toBe("no-restart");
    expect(prediction.otherChanges.some((c) => c.startsWith("Service/"))).toBe(true);
  });

  const pinned = pinnedUpstreamVersion();
  test.skipIf(!cachedUpstreamVersions().includes("0.9.4") || pinned !== "0.9.0")(
    "upstream 0.9.0 does not restart pods when only the server configuration changes; 0.9.4 does (checksum/config)",
    async () => {
      const config = valuesFile(
        "server-config",
        "valkey:\n  valkeyConfig: |\n    appendonly yes\n    appendfsync everysec\n    maxmemory-policy allkeys-lru\n",
      );
      const on090 = await predict([env], [env, config]);
      expect(on090.kind).toBe("no-restart");
      expect(on090.otherChanges).toContain("ConfigMap/valkey-config changed");
      const chart094 = await stageChart(helm, "0.9.4");
      const from094 = await predictRollout(
        helm,
        { chart: chart094, valuesFiles: [env] },
        { chart: chart094, valuesFiles: [env, config] },
        "valkey",
        "data",
      );
      expect(from094.kind).toBe("restart");
      expect(from094.podTemplateChanges.join("\n")).toContain("checksum/config");
    },
  );
});
