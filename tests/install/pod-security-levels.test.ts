import type { V1Pod } from "@kubernetes/client-node";
import { describe, expect } from "vitest";
import { compareVersions, resolveUpstreamChart } from "../../src/chart/upstream.ts";
import { type Manifest, pinnedUpstreamVersion, renderChart, stageChart } from "../../src/chart/wrapper.ts";
import { environments, environmentValuesFile } from "../../src/environments.ts";
import { dryRunRefusal, judgingNamespace, notEnforcing, type PodSecurityLevel } from "../../src/kube/pod-security.ts";
import { markdownTable, writeReport } from "../../src/report/index.ts";
import { upgradePlan } from "../../src/upgrade/plan.ts";
import { clusterUnavailable, test } from "../support/fixtures.ts";

const LEVELS: readonly PodSecurityLevel[] = ["restricted", "baseline"];

/** Every pod a rendered chart would run: its workloads' pod templates and its hook pods (helm test). */
function podsOf(manifests: Manifest[]): V1Pod[] {
  return manifests.flatMap((m): V1Pod[] => {
    if (m.kind === "Pod") return [{ metadata: { name: m.metadata.name, labels: m.metadata.labels }, spec: m.spec }];
    if (!["StatefulSet", "Deployment", "DaemonSet", "Job"].includes(m.kind)) return [];
    // A StatefulSet's pods get a volume per claim template: the pod spec alone does not validate.
    const claims = ((m.spec.volumeClaimTemplates ?? []) as Manifest[]).map((t) => ({
      name: t.metadata.name,
      persistentVolumeClaim: { claimName: `${t.metadata.name}-${m.metadata.name}-0` },
    }));
    const spec = { ...m.spec.template.spec, volumes: [...(m.spec.template.spec.volumes ?? []), ...claims] };
    return [{ metadata: { name: m.metadata.name, labels: m.spec.template.metadata?.labels }, spec }];
  });
}

/** The highest level whose namespace admits every pod, and why the one above it refused. */
async function levelOf(
  judge: (level: PodSecurityLevel, pod: V1Pod) => Promise<string | undefined>,
  pods: V1Pod[],
): Promise<{ level: string; refusedAbove?: string }> {
  let refusedAbove: string | undefined;
  for (const level of LEVELS) {
    const refusals = (await Promise.all(pods.map((pod) => judge(level, pod)))).filter((r) => r !== undefined);
    if (refusals.length === 0) return { level, refusedAbove };
    refusedAbove ??= refusals[0]?.replace(/^.*?violates PodSecurity/, "violates PodSecurity");
  }
  return { level: "privileged", refusedAbove };
}

/**
 * Which Pod Security Standard each upstream version the upgrade suite would walk to meets,
 * on its own (replica mode, upstream's defaults) and under the wrapper (each environment),
 * as the API server judges the rendered pods in server-side dry runs. Nothing is installed.
 * The wrapper must meet `restricted` with every one of them (the contract's promise): a
 * bump that breaks it fails here before any upgrade runs.
 */
describe.skipIf(!!clusterUnavailable)("the Pod Security level of each upstream version", () => {
  const plan = upgradePlan();
  const versions = [
    ...new Set([pinnedUpstreamVersion(), ...plan.walks.flatMap((w) => w.revisions.filter((r) => /^\d/.test(r)))]),
  ].sort(compareVersions);

  test(`is restricted under the wrapper for every environment, with ${versions.join(", ")}, as the API server judges the rendered pods`, async ({
    cluster,
    helm,
    namespaces,
  }) => {
    const judgingNamespaces = new Map<PodSecurityLevel, string>();
    for (const level of LEVELS) {
      const judging = await judgingNamespace(cluster.kube, namespaces, level);
      expect(await notEnforcing(cluster.kube, judging, level, cluster.helperImage)).toBeUndefined();
      judgingNamespaces.set(level, judging);
    }
    const judge = (level: PodSecurityLevel, pod: V1Pod) =>
      dryRunRefusal(cluster.kube, judgingNamespaces.get(level) as string, pod);
    const rows: { version: string; chart: string; level: string; refusedAbove?: string }[] = [];
    for (const version of versions) {
      const upstream = await resolveUpstreamChart(helm, version);
      const alone = podsOf(
        await renderChart(helm, upstream, { set: { "replica.enabled": "true", "replica.persistence.size": "1Gi" } }),
      );
      rows.push({
        version,
        chart: "upstream alone (replica mode, its other defaults)",
        ...(await levelOf(judge, alone)),
      });
      const staged = await stageChart(helm, version);
      for (const env of environments()) {
        const pods = podsOf(await renderChart(helm, staged, { valuesFiles: [environmentValuesFile(env, staged)] }));
        rows.push({ version, chart: `the wrapper, ${env}`, ...(await levelOf(judge, pods)) });
      }
    }
    const markdown = `### Pod Security levels met, judged by the API server (${await cluster.kube.versionOfServer()})\n\n${markdownTable(
      ["upstream", "chart", "highest level met", "why not the level above"],
      rows.map((r) => [r.version, r.chart, r.level, r.refusedAbove ?? "-"]),
    )}`;
    writeReport("pod-security", rows, markdown);
    console.log(markdown);
    const wrapperRows = rows.filter((r) => r.chart.startsWith("the wrapper"));
    expect(
      wrapperRows.filter((r) => r.level !== "restricted").map((r) => `${r.version} ${r.chart}: ${r.refusedAbove}`),
    ).toEqual([]);
  });
});
