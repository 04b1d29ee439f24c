import { describe, expect } from "vitest";
import { cachedUpstreamVersions, compareVersions } from "../../src/chart/upstream.ts";
import { pinnedUpstreamVersion } from "../../src/chart/wrapper.ts";
import { converge } from "../../src/durability/scenarios.ts";
import { compareDeliveries } from "../../src/upgrade/delivery-comparison.ts";
import { settingsInEffect } from "../../src/upgrade/settings-in-effect.ts";
import { clusterUnavailable, test } from "../support/fixtures.ts";

const pinned = pinnedUpstreamVersion();
const newest = cachedUpstreamVersions()
  .filter((v) => compareVersions(v, pinned) > 0)
  .at(-1);

/**
 * A GitOps tool upgrades by rendering the new revision with `helm template` and applying it
 * server-side, pruning what the new rendering dropped; it never runs `helm upgrade`. The same
 * upgrade made both ways, side by side, must leave the cluster in the same state.
 */
describe.skipIf(!!clusterUnavailable)("an upgrade delivered the GitOps way", () => {
  test(`ends where helm upgrade ends: dev-01 from upstream ${pinned} to ${newest ?? "a later cached version"}, the same objects with the same live specs, every pod on the new template, and every check that only reads passing`, async ({
    cluster,
    releases,
    namespaces,
    monitoring,
    contract,
    onTestFailed,
  }) => {
    expect(
      newest,
      `no upstream chart later than the pin ${pinned} is cached (${cachedUpstreamVersions().join(", ")}): fill the chart cache (docs/offline.md)`,
    ).toBeDefined();
    const log = (line: string) => console.log(line);
    const install = (delivery: "helm" | "gitops") =>
      releases.get({ env: "dev-01", instance: `upgrade-${delivery}`, upstreamVersion: pinned, delivery });
    const [byHelm, byGitops] = await Promise.all([install("helm"), install("gitops")]);
    onTestFailed(async () => {
      for (const r of [byHelm, byGitops]) console.error(await r.diagnostics());
    });
    expect(await compareDeliveries(byHelm, byGitops), `after installing ${pinned}`).toEqual([]);

    await Promise.all([byHelm, byGitops].map((r) => r.upgrade({ upstreamVersion: newest })));
    for (const r of [byHelm, byGitops]) await converge({ release: r, cluster, log });
    expect(await compareDeliveries(byHelm, byGitops), `after upgrading to ${newest}`).toEqual([]);

    for (const r of [byHelm, byGitops]) {
      const set = await cluster.kube.apps.readNamespacedStatefulSet({ name: r.fullname, namespace: r.namespace });
      expect(set.status?.updateRevision, `${r.delivery}: every pod on the new template`).toBe(
        set.status?.currentRevision,
      );
      expect(set.status?.updatedReplicas, `${r.delivery}: pods on the new template`).toBe(set.spec?.replicas);
    }
    const verdicts = await settingsInEffect(byGitops, { cluster, namespaces, monitoring, contract, log });
    expect(verdicts.filter((v) => v.result === "fail")).toEqual([]);
    expect(verdicts.filter((v) => v.result === "pass").length).toBeGreaterThan(5);
  });
});
