import { beforeAll, describe, expect, test } from "vitest";
import { Helm } from "../../src/chart/helm.ts";
import { bytes } from "../../src/chart/quantity.ts";
import { environmentsOf, environmentValues } from "../../src/chart/values.ts";
import { type Manifest, renderChart, stageChart } from "../../src/chart/wrapper.ts";
import { environmentValuesFile } from "../../src/environments.ts";
import { valuesFile } from "../support/values-file.ts";

/** The server lines the wrapper's ConfigMap holds, directive -> value. */
function serverLines(manifests: Manifest[]): Record<string, string> {
  const configMap = manifests.find((m) => m.kind === "ConfigMap" && m.metadata.name === "valkey-wrapper-server");
  expect(configMap, "the wrapper's server ConfigMap").toBeDefined();
  const lines = String(configMap?.data["server.conf"])
    .split("\n")
    .filter((line) => line.trim() && !line.startsWith("#"));
  return Object.fromEntries(lines.map((line) => [line.split(" ")[0], line.split(" ").slice(1).join(" ")]));
}

/**
 * maxmemory derived from the memory limit and the eviction policy, as rendered (the live
 * values are read back by config.maxmemory); computed here from the environment's file.
 */
describe("the wrapper's server lines", () => {
  let helm: Helm;
  let chart: string;
  beforeAll(async () => {
    helm = await Helm.fromSettings();
    chart = await stageChart(helm);
  });

  test.each(environmentsOf("VALKEY_ENVS"))(
    "%s: maxmemory at serverConfig's share of its memory limit, and its eviction policy",
    async (env) => {
      const values = environmentValues(env);
      const lines = serverLines(await renderChart(helm, chart, { valuesFiles: [environmentValuesFile(env)] }));
      const expected = Math.floor(
        (bytes(values.valkey.resources.limits.memory) * values.serverConfig.maxmemoryPercentOfLimit) / 100,
      );
      expect(lines).toEqual({ maxmemory: String(expected), "maxmemory-policy": values.serverConfig.maxmemoryPolicy });
    },
  );

  test("the pods mount them where the wrapper's init container reads them", async () => {
    const manifests = await renderChart(helm, chart, { valuesFiles: [environmentValuesFile("dev-01")] });
    const spec = manifests.find((m) => m.kind === "StatefulSet")?.spec.template.spec;
    const volume = spec.volumes.find(
      (v: { configMap?: { name: string } }) => v.configMap?.name === "valkey-wrapper-server",
    );
    expect(volume, "a volume of the wrapper's ConfigMap").toBeDefined();
    const init = spec.initContainers.find((c: { name: string }) => c.name === "valkey-wrapper-init");
    expect(init.volumeMounts).toContainEqual({ name: volume.name, mountPath: "/wrapper/server", readOnly: true });
    expect(init.args[0]).toContain("/wrapper/server/server.conf");
  });

  test("leaves out what valkeyConfig sets itself, in any case", async () => {
    const own = await renderChart(helm, chart, {
      valuesFiles: [
        environmentValuesFile("dev-01"),
        valuesFile("own-memory", "valkey:\n  valkeyConfig: |\n    APPENDONLY yes\n    MaxMemory 100mb\n"),
      ],
    });
    expect(serverLines(own)).toEqual({ "maxmemory-policy": "allkeys-lru" });
  });
});
