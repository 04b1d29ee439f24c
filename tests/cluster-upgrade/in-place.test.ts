import { describe, expect } from "vitest";
import { installRelease, type Release } from "../../src/chart/release.ts";
import type { NodeControl } from "../../src/cluster/index.ts";
import { type NodeUpgradeStep, upgradeNodeInPlace } from "../../src/cluster/node-upgrade.ts";
import { ensureImages, kubernetesRelease, kubernetesVersionOfInputs } from "../../src/images/index.ts";
import { type ClusterUpgradeStep, writeClusterUpgradeReport } from "../../src/report/cluster-upgrade.ts";
import { setting } from "../../src/settings.ts";
import { datasetBroken, observeRollout } from "../../src/upgrade/rollout.ts";
import { settingsInEffect } from "../../src/upgrade/settings-in-effect.ts";
import { withClient, writeDataset } from "../../src/valkey/index.ts";
import { clusterUnavailable, test } from "../support/fixtures.ts";

const target = setting("VALKEY_KUBERNETES_UPGRADE_TO");
if (!target && !clusterUnavailable)
  console.warn(
    "SKIPPED: the in-place cluster upgrade: set VALKEY_KUBERNETES_UPGRADE_TO (npm run test:cluster-upgrade)",
  );

const minor = (release: string) => Number(release.split(".")[1]);

/**
 * A cluster upgraded the way teams upgrade theirs: the control plane's node first, then
 * each agent, one at a time (drain, the next release's binaries and kubeadm's rendering of
 * it, restart, uncordon), while an acknowledged-write writer and an open-loop load run
 * against a release holding a checksummed dataset.
 */
describe.skipIf(!!clusterUnavailable || !target)(
  "the harness's cluster, upgraded in place to the next Kubernetes release",
  () => {
    const env = setting("VALKEY_UPGRADE_ENVS")?.[0] ?? "dev-01";

    test(`${env} loses no acknowledged write and keeps its data, replication and settings while every node moves to ${target}`, async ({
      cluster,
      helm,
      namespace,
      namespaces,
      monitoring,
      contract,
      onTestFailed,
      skip,
    }) => {
      if (!cluster.nodeControl)
        skip("needs to stop and restart nodes: a cluster the harness did not start is not its to upgrade");
      const from = kubernetesRelease();
      const to = target as string;
      if (minor(to) !== minor(from) + 1)
        throw new Error(
          `VALKEY_KUBERNETES_UPGRADE_TO=${to} on a ${from} cluster: Kubernetes upgrades one minor release at a time; use v1.${minor(from) + 1} (or set VALKEY_KUBERNETES_VERSION to v1.${minor(to) - 1})`,
        );
      const toVersion = kubernetesVersionOfInputs(to);
      const log = (line: string) => console.log(line);
      const next = await ensureImages(log, to);
      const control = cluster.nodeControl as NodeControl;

      let release: Release | undefined;
      onTestFailed(async () => {
        if (release) console.error(await release.diagnostics());
      });
      release = await installRelease(helm, cluster, { env, namespace, log });
      const r = release;
      const dataset = await withClient(await r.endpoint("primary"), r.clientCredentials, (c) =>
        writeDataset(c, `node-upgrade:${env}`, 2_000),
      );

      const steps: ClusterUpgradeStep[] = [];
      for (const node of control.nodes) {
        let upgraded: NodeUpgradeStep | undefined;
        const observation = await observeRollout(
          r,
          `upgrade ${node.name} to ${toVersion}`,
          async () => {
            upgraded = await upgradeNodeInPlace(cluster, node, next.node, toVersion, log);
          },
          { rate: 200, quietSeconds: 3, maxSeconds: 600, log },
        );
        const podsReplaced = observation.restarts.map((restart) => restart.pod);
        steps.push({ node: node.name, role: node.role, upgrade: upgraded, observation, podsReplaced });
        if (observation.error) throw new Error(`upgrading ${node.name} failed: ${observation.error}`);
      }

      const nodes = (await cluster.kube.core.listNode()).items;
      const settings = await settingsInEffect(r, { cluster, namespaces, monitoring, contract, log });
      const broken = await datasetBroken(r, dataset);
      const report = writeClusterUpgradeReport({
        env,
        from: kubernetesVersionOfInputs(from),
        to: toVersion,
        steps,
        nodes: nodes.map((n) => ({
          name: n.metadata?.name ?? "?",
          kubelet: n.status?.nodeInfo?.kubeletVersion ?? "?",
        })),
        dataset: broken ?? `intact on every pod (${dataset.count} keys, checksum ${dataset.checksum.slice(0, 12)})`,
        settings,
      });
      console.log(report.markdown);

      for (const n of nodes)
        expect(n.status?.nodeInfo?.kubeletVersion, `${n.metadata?.name}'s kubelet`).toBe(toVersion);
      const apiServer = await cluster.kube.versionOfServer();
      expect(apiServer, "the API server's version").toBe(toVersion);
      for (const step of steps)
        expect(step.observation.writes.lost, `acknowledged writes lost while ${step.node} was upgraded`).toBe(0);
      expect(broken, "the dataset written before the upgrade").toBeUndefined();
      expect(
        settings.filter((s) => s.result === "fail").map((s) => `${s.check}: ${s.message}`),
        "the environment's settings in effect after the upgrade",
      ).toEqual([]);
    });
  },
);
