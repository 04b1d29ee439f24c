import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import { parse } from "yaml";
import { Helm } from "../../src/chart/helm.ts";
import { cachedUpstreamVersions } from "../../src/chart/upstream.ts";
import { lintChart, type Manifest, pinnedUpstreamVersion, renderChart, stageChart } from "../../src/chart/wrapper.ts";
import { environments, environmentValuesFile, WRAPPER_CHART } from "../../src/environments.ts";
import { helmMajorsHere } from "../support/helm-majors.ts";

const pinned = pinnedUpstreamVersion();
const upstreamVersions = [pinned, ...cachedUpstreamVersions().filter((v) => v !== pinned)];
const helmMajors = await helmMajorsHere();

interface EnvValues {
  storageClass?: { provisioner?: string; parameters?: Record<string, string>; reclaimPolicy?: string };
  networkPolicy?: { enabled?: boolean };
  podDisruptionBudget?: { enabled?: boolean };
  valkey?: {
    replica?: { replicas?: number; minReplicasToWrite?: number; persistence?: { size?: string } };
    resources?: { limits?: Record<string, string>; requests?: Record<string, string> };
    auth?: { enabled?: boolean };
    affinity?: { podAntiAffinity?: Record<string, unknown> };
  };
}

const defaults = parse(readFileSync(join(WRAPPER_CHART, "values.yaml"), "utf8")) as EnvValues;

function effective(env: string) {
  const values = parse(readFileSync(environmentValuesFile(env), "utf8")) as EnvValues;
  return {
    replicas: values.valkey?.replica?.replicas ?? defaults.valkey?.replica?.replicas,
    minReplicasToWrite: values.valkey?.replica?.minReplicasToWrite ?? defaults.valkey?.replica?.minReplicasToWrite,
    size: values.valkey?.replica?.persistence?.size ?? defaults.valkey?.replica?.persistence?.size,
    provisioner: values.storageClass?.provisioner,
    parameters: values.storageClass?.parameters ?? {},
    reclaimPolicy: values.storageClass?.reclaimPolicy ?? defaults.storageClass?.reclaimPolicy,
    resources: { ...defaults.valkey?.resources, ...values.valkey?.resources },
    networkPolicy: values.networkPolicy?.enabled ?? false,
    pdb: values.podDisruptionBudget?.enabled ?? false,
    requiredAntiAffinity: !!values.valkey?.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution,
  };
}

function find(manifests: Manifest[], kind: string, suffix = ""): Manifest {
  const found = manifests.find((m) => m.kind === kind && m.metadata.name.endsWith(suffix));
  if (!found) throw new Error(`no ${kind}${suffix ? ` named *${suffix}` : ""} in the rendered chart`);
  return found;
}

describe.each(helmMajors)("Helm %s", (major) => {
  let helm: Helm;
  beforeAll(async () => {
    helm = await Helm.resolve(major);
    console.log(`render tests use ${helm}`);
  });

  describe.each(upstreamVersions)("upstream valkey %s", (upstream) => {
    let chart: string;
    beforeAll(async () => {
      chart = await stageChart(helm, upstream);
    });

    describe.each(environments())("environment %s", (env) => {
      const expected = effective(env);
      let manifests: Manifest[];
      beforeAll(async () => {
        manifests = await renderChart(helm, chart, {
          release: "valkey",
          namespace: "data",
          valuesFiles: [environmentValuesFile(env)],
        });
      });

      test("passes helm lint", async () => {
        await expect(lintChart(helm, chart, { valuesFiles: [environmentValuesFile(env)] })).resolves.toMatch(
          /0 chart\(s\) failed/,
        );
      });

      test("runs one primary plus the environment's replicas", () => {
        expect(find(manifests, "StatefulSet").spec.replicas).toBe((expected.replicas as number) + 1);
      });

      test("claims volumes of the environment's size on the wrapper's StorageClass", () => {
        const [claim] = find(manifests, "StatefulSet").spec.volumeClaimTemplates;
        expect(claim.spec.storageClassName).toBe("valkey");
        expect(claim.spec.resources.requests.storage).toBe(expected.size);
      });

      test("creates the StorageClass with the environment's provisioner and parameters", () => {
        const storageClass = find(manifests, "StorageClass");
        expect(storageClass.metadata.name).toBe("valkey");
        expect(storageClass.provisioner).toBe(expected.provisioner);
        expect(storageClass.parameters ?? {}).toEqual(expected.parameters);
        expect(storageClass.reclaimPolicy).toBe(expected.reclaimPolicy);
        expect(storageClass.volumeBindingMode).toBe("WaitForFirstConsumer");
      });

      test("writes min-replicas-to-write into the init script", () => {
        const scripts = manifests.find((m) => m.kind === "ConfigMap" && m.metadata.name.endsWith("init-scripts"));
        expect(scripts?.data["init.sh"]).toContain(`min-replicas-to-write ${expected.minReplicasToWrite}`);
      });

      test("annotates the metrics Service for Prometheus", () => {
        const annotations = find(manifests, "Service", "-metrics").metadata.annotations;
        expect(annotations).toMatchObject({ "prometheus.io/scrape": "true", "prometheus.io/port": "9121" });
      });

      test("gives the Valkey container the environment's resources", () => {
        const container = find(manifests, "StatefulSet").spec.template.spec.containers[0];
        expect(container.resources).toEqual(expected.resources);
      });

      test("spreads the pods over nodes with pod anti-affinity", () => {
        const antiAffinity = find(manifests, "StatefulSet").spec.template.spec.affinity?.podAntiAffinity;
        const rules = expected.requiredAntiAffinity
          ? antiAffinity?.requiredDuringSchedulingIgnoredDuringExecution
          : antiAffinity?.preferredDuringSchedulingIgnoredDuringExecution?.map(
              (rule: { podAffinityTerm: unknown }) => rule.podAffinityTerm,
            );
        expect(rules?.[0]).toMatchObject({ topologyKey: "kubernetes.io/hostname" });
      });

      test("renders the NetworkPolicy and PodDisruptionBudget exactly when turned on", () => {
        expect(manifests.some((m) => m.kind === "NetworkPolicy")).toBe(expected.networkPolicy);
        expect(manifests.some((m) => m.kind === "PodDisruptionBudget")).toBe(expected.pdb);
      });
    });
  });
});
