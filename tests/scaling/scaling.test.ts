import { cpSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect } from "vitest";
import { stringify } from "yaml";
import type { Release } from "../../src/chart/release.ts";
import { mergeValues, readValuesFile, type Values } from "../../src/chart/values.ts";
import { retainsClaimsOnScaleDown } from "../../src/checks/storage.ts";
import { environmentValuesFile, WRAPPER_CHART } from "../../src/environments.ts";
import { scratchDir } from "../../src/files.ts";
import { markdownTable, writeReport } from "../../src/report/index.ts";
import { predictRollout } from "../../src/upgrade/prediction.ts";
import { observeRollout, WRITES_EACH_SIDE } from "../../src/upgrade/rollout.ts";
import { settingsInEffect } from "../../src/upgrade/settings-in-effect.ts";
import { parseInfo, withClient } from "../../src/valkey/index.ts";
import { clusterUnavailable, test } from "../support/fixtures.ts";

const ENV = "dev-01";
/** dev-01 with the spread required, as production runs it: scaling must respect it. */
const SPREAD_REQUIRED: Values = {
  valkey: {
    affinity: {
      podAntiAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: [
          {
            topologyKey: "kubernetes.io/hostname",
            labelSelector: { matchLabels: { "app.kubernetes.io/name": "valkey" } },
          },
        ],
      },
    },
  },
};

/** A copy of the wrapper whose dev-01 file also says `layer`: the pull request that scales. */
function wrapperWith(layer: Values): string {
  const dir = join(scratchDir("wrapper-scaling-"), "valkey");
  cpSync(WRAPPER_CHART, dir, {
    recursive: true,
    filter: (source) => !source.startsWith(join(WRAPPER_CHART, "charts")),
  });
  const file = environmentValuesFile(ENV, dir);
  const merged = mergeValues(mergeValues(readValuesFile(file), SPREAD_REQUIRED), layer);
  writeFileSync(file, `# values.${ENV}.yaml, scaled by the scaling suite\n${stringify(merged)}`);
  return dir;
}
const withReplicas = (replicas: number) => wrapperWith({ valkey: { replica: { replicas } } });

async function primaryFigures(release: Release) {
  return withClient(await release.endpoint(0), release.clientCredentials, async (client) => ({
    fullSyncs: Number(parseInfo(await client.info("stats")).sync_full),
    replicas: Number(parseInfo(await client.info("replication")).connected_slaves),
  }));
}

interface Step {
  step: string;
  predicted: string;
  restarted: string[];
  unavailableSeconds: number;
  acknowledged: number;
  refused: number;
  lost: number;
  fullSyncs: number;
  replicasOnline: number;
  note: string;
}

/**
 * Scaling as the chart's description tells operators to: change valkey.replica.replicas
 * and run `helm upgrade`. Under the acknowledged writer and a cache load, each step is
 * predicted from the rendered manifests and judged by what the pods, the servers and the
 * writer's ledger on every pod show.
 */
describe.skipIf(!!clusterUnavailable)("scaling the replicas through helm upgrade", () => {
  test("2 -> 3 -> 2 replicas under the acknowledged writer: predicted, no pod restarted, the new replica full-syncs and counts, no write refused or lost on any pod, the removed replica's claim kept as the StatefulSet's retention policy says; on up to 6 nodes, more pods than nodes under the required spread stops at the scheduler's reason", async ({
    cluster,
    releases,
    helm,
    namespaces,
    monitoring,
    contract,
    skip,
    onTestFailed,
  }) => {
    const nodes = (await cluster.nodeNames()).length;
    if (nodes < 4) return skip(`needs 4 nodes for 4 pods under a required spread; this cluster has ${nodes}`);
    const log = (line: string) => console.log(line);
    const base = withReplicas(2);
    const release = await releases.get({ env: ENV, instance: "scaling", chartDir: base, declaredChartDir: base });
    onTestFailed(async () => console.error(await release.diagnostics()));
    const context = { cluster, namespaces, monitoring, contract, log };
    const steps: Step[] = [];

    for (const [label, replicas] of [
      ["2 -> 3 replicas", 3],
      ["3 -> 2 replicas", 2],
    ] as const) {
      const chartDir = withReplicas(replicas);
      const prediction = await predictRollout(
        helm,
        await release.target(),
        await release.target({ chartDir }),
        release.name,
        release.namespace,
      );
      expect(prediction.kind, prediction.reason).toBe("no-restart");
      const before = await primaryFigures(release);
      const observation = await observeRollout(release, `helm upgrade: ${label}`, () => release.upgrade({ chartDir }), {
        log,
      });
      const after = await primaryFigures(release);
      const w = observation.writes;
      const scaling = prediction.scaling;
      const scaled = [...(scaling?.added ?? []), ...(scaling?.removed ?? [])];
      const restarted = observation.restarts.filter((r) => !scaled.includes(r.pod)).map((r) => r.pod);
      let note = "";
      expect(observation.error).toBeUndefined();
      expect(restarted, "no pod but those added or removed came or went").toEqual([]);
      expect(observation.containerRestarts).toEqual([]);
      expect(w.lost, `lost on: ${JSON.stringify(w.lostByPod)}`).toBe(0);
      expect(w.refused, "writes refused while scaling (NOREPLICAS: minReplicasToWrite did not hold)").toBe(0);
      expect(w.acknowledgedAfter).toBeGreaterThanOrEqual(WRITES_EACH_SIDE);
      expect(after.replicas, "replicas online at the primary").toBe(replicas);
      if (replicas > before.replicas) {
        expect(scaling?.added).toEqual([release.podName(3)]);
        expect(after.fullSyncs - before.fullSyncs, "full resyncs served by the primary").toBeGreaterThanOrEqual(1);
      } else {
        expect(scaling?.removed).toEqual([release.podName(3)]);
        const set = await cluster.kube.apps.readNamespacedStatefulSet({
          name: release.fullname,
          namespace: release.namespace,
        });
        const retained = retainsClaimsOnScaleDown(set);
        const retention = retained ? "Retain" : "Delete";
        const claim = `valkey-data-${release.podName(3)}`;
        const claims = await cluster.kube.core.listNamespacedPersistentVolumeClaim({ namespace: release.namespace });
        const kept = claims.items.some((c) => c.metadata?.name === claim);
        expect(kept, `claim ${claim} after scaling down (whenScaled: ${retention})`).toBe(retained);
        note = `claim ${claim} ${kept ? "kept" : "deleted"} (persistentVolumeClaimRetentionPolicy.whenScaled ${retention})`;
      }
      const settings = await settingsInEffect(release, context);
      expect(settings.filter((s) => s.result === "fail")).toEqual([]);
      steps.push({
        step: label,
        predicted: prediction.reason,
        restarted,
        unavailableSeconds: w.unavailableSeconds,
        acknowledged: w.acknowledged,
        refused: w.refused,
        lost: w.lost,
        fullSyncs: after.fullSyncs - before.fullSyncs,
        replicasOnline: after.replicas,
        note,
      });
      log(`[scaling] ${label}: ${JSON.stringify(steps.at(-1))}`);
    }

    // One pod more than the nodes: the last cannot be placed, and the rollout says why at once.
    if (nodes <= 6) {
      const beyond = nodes;
      const started = performance.now();
      // The harness's fit would relax the spread to fit the cluster; an operator's cluster does not.
      const spread = process.env.VALKEY_FIT_SPREAD;
      process.env.VALKEY_FIT_SPREAD = "as-written";
      const refusal = await release
        .upgrade({ chartDir: withReplicas(beyond) })
        .then(
          () => undefined,
          (error: Error) => error.message,
        )
        .finally(() => {
          if (spread === undefined) delete process.env.VALKEY_FIT_SPREAD;
          else process.env.VALKEY_FIT_SPREAD = spread;
        });
      const seconds = Number(((performance.now() - started) / 1000).toFixed(1));
      expect(refusal).toMatch(
        new RegExp(`pod ${release.podName(beyond)} cannot be scheduled .*didn't match pod anti-affinity rules`),
      );
      expect(seconds, "stopped at the scheduler's reason, well before the 300 s rollout timeout").toBeLessThan(240);
      steps.push({
        step: `2 -> ${beyond} replicas on ${nodes} nodes`,
        predicted: "-",
        restarted: [],
        unavailableSeconds: 0,
        acknowledged: 0,
        refused: 0,
        lost: 0,
        fullSyncs: 0,
        replicasOnline: 0,
        note: `stopped after ${seconds} s: ${(refusal as string).replace(/^.*?(pod \S+ cannot be scheduled)/, "$1").split("\n")[0]}`,
      });
    } else log(`[scaling] ${nodes} nodes: scaling beyond them is not tried (more than 6 pods)`);

    const markdown = `### Scaling ${ENV} (required spread) through helm upgrade\n\n${markdownTable(
      [
        "step",
        "predicted",
        "writes unavailable (s)",
        "acknowledged",
        "refused",
        "lost",
        "full resyncs",
        "replicas online",
        "note",
      ],
      steps.map((s) => [
        s.step,
        s.predicted,
        s.unavailableSeconds,
        s.acknowledged,
        s.refused,
        s.lost,
        s.fullSyncs,
        s.replicasOnline,
        s.note,
      ]),
    )}`;
    writeReport("scaling", steps, markdown);
    console.log(markdown);
  });
});
