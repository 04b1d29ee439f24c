import { fileURLToPath } from "node:url";
import { afterAll, describe, expect } from "vitest";
import { bytes } from "../../src/chart/quantity.ts";
import { environmentsOf, mergeValues, readValuesFile } from "../../src/chart/values.ts";
import type { NodeContainerInfo, NodeControl } from "../../src/cluster/index.ts";
import { platformContract } from "../../src/contract.ts";
import { ledgerOnEveryPod, lostAnywhere, whereLost } from "../../src/durability/ledger.ts";
import { converge } from "../../src/durability/scenarios.ts";
import { waitFor } from "../../src/kube/index.ts";
import { AlertWatcher } from "../../src/prometheus/alert-watch.ts";
import { durationSeconds, secondsUntilAlert } from "../../src/prometheus/alerts.ts";
import { startPrometheus } from "../../src/prometheus/index.ts";
import { inWords, markdownTable, writeReport } from "../../src/report/index.ts";
import { fillMemory, readDataset, withClient, writeDataset } from "../../src/valkey/index.ts";
import { refusalWindow } from "../../src/valkey/refusals.ts";
import { AcknowledgedWriter, acknowledgedAfter, type WriteRecord } from "../../src/valkey/writer.ts";
import { clusterUnavailable, test } from "../support/fixtures.ts";

/** The chart's alert rules as a rules file, for the alerts scenario's Prometheus (one window shortened). */
const ALERTS_ON = fileURLToPath(new URL("../../fixtures/scenarios/alerts-on.yaml", import.meta.url));

/** Acknowledged writes the writer must get through once pod 0 is back and its replicas re-attached. */
const WRITES_AFTER_RETURN = 20;
/** How long the writer gets for them: each write waits for a replica's WAIT through a port-forward. */
const WRITES_AFTER_RETURN_WITHIN_MS = 30_000;
/**
 * The scrape timeout of startPrometheus's configuration: a scrape of a deleted pod's
 * exporter may take that long to fail before its series end.
 */
const SCRAPE_TIMEOUT_SECONDS = 3;
/** Keys written before the alert scenario's primary restart: at 10 ms a key (alerts-on.yaml), a 30 s resync. */
const RESYNC_DATASET_KEYS = 3_000;

/**
 * Freezes a container task in a node (`ctr task pause`). Under load the cgroup v1 freezer
 * can give up ("unable to freeze": a task did not stop in time; a .ci/run once failed so):
 * a few more tries before it counts.
 */
async function pauseTask(nodes: NodeControl, node: NodeContainerInfo, id: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await nodes.exec(node, ["ctr", "-n", "k8s.io", "task", "pause", id]);
      return;
    } catch (error) {
      if (attempt >= 5 || !/unable to freeze/.test(String(error))) throw error;
      console.log(`[alerts] ctr task pause ${id.slice(0, 12)}: unable to freeze, try ${attempt + 1} of 5`);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}

describe.skipIf(!!clusterUnavailable).concurrent.each(environmentsOf("VALKEY_FAILOVER_ENVS"))(
  "environment %s under failure",
  (env) => {
    test.override({ env });
    const findings: Record<string, unknown> = {};

    afterAll(() => {
      if (Object.keys(findings).length === 0) return;
      const rows = Object.entries(findings).map(([scenario, result]) => [scenario, inWords(result)]);
      writeReport(
        `failover-${env}`,
        { env, findings },
        `### Failure scenarios: ${env}\n\n${markdownTable(["scenario", "measured"], rows)}`,
      );
    });

    // Each scenario breaks a release of its own, so the scenarios run side by side.
    describe("replica-loss", () => {
      test.override({ install: { instance: "replica-loss" } });
      test("accepts writes while minReplicasToWrite replicas remain, refuses them with NOREPLICAS below that, and resumes when replicas return", async ({
        release: r,
      }) => {
        const min = Number(r.declared.valkey.replica.minReplicasToWrite);
        const primary = await r.endpoint("primary");
        const write = (key: string) =>
          withClient(primary, r.clientCredentials, (c) => c.set(key, "v")).then(
            () => "OK",
            (error: Error) => error.message,
          );
        await withClient(primary, r.clientCredentials, (c) => c.set("failover:readable", "yes"));

        // Keep exactly `min` replicas: still writable.
        await r.scale(1 + min);
        expect(await write("failover:with-min-replicas"), `writes with ${min} replica(s) left`).toBe("OK");

        // One fewer than `min`: refused, while reads go on.
        const started = performance.now();
        await r.scale(min);
        const refused = await waitFor(
          "the primary to refuse writes",
          async () => {
            const reply = await write("failover:below-min");
            return reply.startsWith("NOREPLICAS") ? reply : undefined;
          },
          { timeoutMs: 30_000, intervalMs: 250 },
        );
        expect(refused).toMatch(/^NOREPLICAS/);
        expect(await withClient(primary, r.clientCredentials, (c) => c.get("failover:readable"))).toBe("yes");

        // Replicas back: writes resume by themselves.
        await r.scale(r.replicas + 1);
        const resumed = await waitFor(
          "writes to resume",
          async () => ((await write("failover:resumed")) === "OK" ? performance.now() : undefined),
          { timeoutMs: 60_000, intervalMs: 250 },
        );
        findings.replicaLoss = {
          minReplicasToWrite: min,
          refusedWith: refused.split(" ")[0],
          secondsWithoutWrites: Number(((resumed - started) / 1000).toFixed(1)),
        };
      });
    });

    // Each scenario breaks a release of its own, so the scenarios run side by side.
    describe("primary-loss", () => {
      test.override({ install: { instance: "primary-loss" } });
      const budget = platformContract().terms[env]?.budgets.primaryRestart.writesUnavailableSeconds as number;
      test(`loses no acknowledged write on any pod while the primary pod is deleted and returns, writes resume, and they stop for at most the contract's ${budget} s`, async ({
        cluster,
        release: r,
      }) => {
        const min = Number(r.declared.valkey.replica.minReplicasToWrite);
        // A release can be Ready before its replicas finished their first sync: start from a converged one.
        await converge({ cluster, release: r, log: console.log });
        const writer = new AcknowledgedWriter(await r.endpoint("primary"), r.clientCredentials, {
          prefix: `acked:${env}`,
          waitReplicas: Math.max(min, 1),
          intervalMs: 50,
          maxWrites: 20_000,
          maxSeconds: 240,
        }).start();
        await writer.acknowledgedSince(0, WRITES_AFTER_RETURN, WRITES_AFTER_RETURN_WITHIN_MS);
        const podDeleted = writer.now();
        await cluster.kube.core.deleteNamespacedPod({ namespace: r.namespace, name: r.podName(0) });
        await r.scale(r.replicas + 1); // waits until pod 0 is back and Ready
        const podBack = writer.now();
        // Replicas count as attached while they still load their resync; writes resume only once they are online.
        await converge({ cluster, release: r, log: console.log });
        const reattached = writer.now();
        await writer.acknowledgedSince(reattached, WRITES_AFTER_RETURN, WRITES_AFTER_RETURN_WITHIN_MS);
        const report = await writer.stop();
        const ledger = await ledgerOnEveryPod(r, report.records);
        const lost = lostAnywhere(ledger);
        const before = report.records.filter((w) => w.outcome === "acknowledged" && w.answeredAt < podDeleted).length;
        findings.primaryLoss = {
          podDownSeconds: Number(((podBack - podDeleted) / 1000).toFixed(1)),
          writeUnavailableSeconds: report.longestOutageSeconds,
          beyondPodRestartSeconds: Number((report.longestOutageSeconds - (podBack - podDeleted) / 1000).toFixed(1)),
          attempted: report.attempted,
          acknowledged: report.acknowledged,
          acknowledgedBefore: before,
          confirmed: report.confirmed,
          acknowledgedAfterReturn: acknowledgedAfter(report, reattached),
          errors: report.errors,
          lostAcknowledged: lost.length,
          lostWhere: whereLost(ledger) || "nowhere",
        };
        console.log(`[failover ${env}] primary loss: ${JSON.stringify(findings.primaryLoss)}`);
        expect(before, "acknowledged writes before pod 0 was deleted").toBeGreaterThanOrEqual(WRITES_AFTER_RETURN);
        expect(
          lost.map((w) => w.key),
          `acknowledged writes missing on some pod (${whereLost(ledger)})`,
        ).toEqual([]);
        expect(
          acknowledgedAfter(report, reattached),
          `acknowledged writes within ${WRITES_AFTER_RETURN_WITHIN_MS / 1000} s after pod 0 returned and its replicas re-attached (writes resumed)`,
        ).toBeGreaterThanOrEqual(WRITES_AFTER_RETURN);
        expect(
          report.longestOutageSeconds,
          `longest stretch without an acknowledged write, seconds (the contract's primary-restart budget for ${env})`,
        ).toBeLessThanOrEqual(budget);
      });
    });

    // Each scenario breaks a release of its own, so the scenarios run side by side.
    describe("whole-restart", () => {
      test.override({ install: { instance: "whole-restart" } });
      test("keeps its data when the whole release is scaled to zero and back", async ({ release: r }) => {
        const dataset = await withClient(await r.endpoint("primary"), r.clientCredentials, (c) =>
          writeDataset(c, `restart:${env}`, 3_000),
        );
        const started = performance.now();
        await r.scale(0);
        await r.scale(r.replicas + 1);
        findings.wholeRestart = { seconds: Number(((performance.now() - started) / 1000).toFixed(1)) };
        for (let i = 0; i <= r.replicas; i++) {
          await withClient(await r.endpoint(i), r.clientCredentials, async (c) => {
            await waitFor(
              `pod ${i} to hold the dataset`,
              async () => (await readDataset(c, dataset)).checksum === dataset.checksum,
              {
                timeoutMs: 60_000,
                intervalMs: 500,
              },
            );
          });
        }
      });
    });

    // Each scenario breaks a release of its own, so the scenarios run side by side.
    describe.skipIf(!environmentsOf("VALKEY_ALERT_ENVS").includes(env))("alerts", () => {
      test.override({ install: { instance: "alerts", extraValuesFiles: [ALERTS_ON] } });
      test("fires the chart's alerts in a real Prometheus: writes refused while replicas are below minReplicasToWrite and through a primary restart's full resync, an unreachable exporter, used memory near the maxmemory the chart derives from the memory limit; all resolve", async ({
        cluster,
        namespaces,
        release: r,
        skip,
      }) => {
        if (!cluster.nodeControl)
          return skip("freezes an exporter through its node's containerd: needs the harness's own cluster");
        if (!cluster.info.images?.prometheus) return skip("needs the offline Prometheus image");
        const values = mergeValues(r.declared, readValuesFile(ALERTS_ON));
        // Where the environment's NetworkPolicy admits scrapes from: Prometheus runs there, with
        // a copy of the release's rules ConfigMap (rule files come from its own namespace).
        const where = values.networkPolicy?.enabled
          ? ((values.networkPolicy.metricsNamespaces as string[])[0] as string)
          : r.namespace;
        const rules = where === r.namespace ? `${r.fullname}-alerts` : `${r.namespace}-alerts`.slice(0, 63);
        if (where !== r.namespace) {
          await namespaces.ensure(where);
          const original = await cluster.kube.core.readNamespacedConfigMap({
            namespace: r.namespace,
            name: `${r.fullname}-alerts`,
          });
          await cluster.kube.core.createNamespacedConfigMap({
            namespace: where,
            body: { metadata: { name: rules }, data: original.data },
          });
        }
        const prometheus = await startPrometheus(cluster, {
          namespace: where,
          name: `prometheus-alerts-${r.namespace}`.slice(0, 50),
          namespaces: [r.namespace],
          ruleConfigMaps: [{ name: rules, key: "valkey-alerts.yml" }],
        });
        try {
          await converge({ cluster, release: r, log: console.log });
          const interval = prometheus.scrapeIntervalSeconds;
          // Replicas below minReplicasToWrite: the primary refuses writes, ValkeyWritesRefused fires.
          const min = Number(r.declared.valkey.replica.minReplicasToWrite);
          const writesRefusedFor = durationSeconds(values.alerts.writesRefused.for);
          await r.scale(min);
          const fired = await secondsUntilAlert(prometheus, "ValkeyWritesRefused", "firing", 120_000);
          const restoring = performance.now();
          await r.scale(r.replicas + 1);
          await secondsUntilAlert(prometheus, "ValkeyWritesRefused", "resolved", 120_000);
          const resolved = Number(((performance.now() - restoring) / 1000).toFixed(1));
          // An exporter that stops answering (its container frozen): ValkeyExporterDown fires.
          const exporterDownFor = durationSeconds(values.alerts.exporterDown.for);
          const pod = await cluster.kube.core.readNamespacedPod({ namespace: r.namespace, name: r.podName(1) });
          const id = pod.status?.containerStatuses
            ?.find((c) => c.name === "metrics")
            ?.containerID?.replace(/^containerd:\/\//, "");
          const node = cluster.nodeControl.node(pod.spec?.nodeName as string);
          await pauseTask(cluster.nodeControl, node, id as string);
          let exporterFired: number;
          try {
            exporterFired = await secondsUntilAlert(prometheus, "ValkeyExporterDown", "firing", 120_000);
          } finally {
            await cluster.nodeControl.exec(node, ["ctr", "-n", "k8s.io", "task", "resume", id as string]);
          }
          // Resolved once a scrape succeeds again.
          const exporterResolved = await secondsUntilAlert(prometheus, "ValkeyExporterDown", "resolved", 120_000);

          // A primary restart (pod 0 deleted; dev-01 keeps the append-only file on): writes fail
          // while pod 0 is down, then the restarted primary refuses them with NOREPLICAS while
          // every replica does a full resync, connected but not yet good. ValkeyWritesRefused
          // must fire in that window and stay on until writes resume: a rule on connected
          // replicas (redis_connected_slaves) resolves as soon as they reconnect, mid-resync.
          await converge({ cluster, release: r, log: console.log });
          await secondsUntilAlert(prometheus, "ValkeyWritesRefused", "resolved", 120_000);
          // The wrapper's restart path makes this window short (seconds): this release makes its
          // full resyncs slow on purpose (rdb-key-save-delay, fixtures/scenarios/alerts-on.yaml),
          // and this dataset makes the restarted primary's resync last about half a minute.
          await withClient(await r.endpoint("primary"), r.clientCredentials, (c) =>
            writeDataset(c, `alerts-restart-dataset:${env}`, RESYNC_DATASET_KEYS),
          );
          const writer = new AcknowledgedWriter(await r.endpoint("primary"), r.clientCredentials, {
            prefix: `alerts-restart:${env}`,
            waitReplicas: 0,
            intervalMs: 100,
            maxWrites: 20_000,
            maxSeconds: 300,
          }).start();
          // On the writer's clock, so that the alert's states line up with the writes' outcomes.
          const watcher = new AlertWatcher(prometheus, "ValkeyWritesRefused", () => writer.now()).start();
          let deleted = 0;
          let podBack = 0;
          let records: WriteRecord[];
          try {
            await new Promise((resolve) => setTimeout(resolve, 3_000));
            deleted = writer.now();
            await cluster.kube.core.deleteNamespacedPod({ namespace: r.namespace, name: r.podName(0) });
            await r.scale(r.replicas + 1); // waits until pod 0 is back and Ready
            podBack = writer.now();
            await converge({ cluster, release: r, log: console.log });
            await writer.acknowledgedSince(writer.now(), 5, WRITES_AFTER_RETURN_WITHIN_MS);
            // Prometheus sees the replicas good at its next scrape; the watcher then one more look.
            await secondsUntilAlert(prometheus, "ValkeyWritesRefused", "resolved", 120_000);
            await new Promise((resolve) => setTimeout(resolve, 1_500));
          } finally {
            await watcher.stop();
            records = (await writer.stop()).records;
          }
          const refusal = refusalWindow(records, deleted);
          const alert = watcher.timeline(deleted);
          /** Seconds after pod 0's deletion. */
          const sinceDeletion = (ms: number | undefined) =>
            ms === undefined ? undefined : Number(((ms - deleted) / 1000).toFixed(1));
          const refusedSeconds =
            refusal.firstFailedAt !== undefined && refusal.resumedAt !== undefined
              ? Number(((refusal.resumedAt - refusal.firstFailedAt) / 1000).toFixed(1))
              : undefined;
          const restart = {
            podBackAfterSeconds: sinceDeletion(podBack),
            writesFirstFailedAfterSeconds: sinceDeletion(refusal.firstFailedAt),
            writesFirstRefusedNoReplicasAfterSeconds: sinceDeletion(refusal.firstNoReplicasAt),
            writesResumedAfterSeconds: sinceDeletion(refusal.resumedAt),
            writesRefusedSeconds: refusedSeconds,
            failedWrites: refusal.failures,
            alertPendingAfterSeconds: sinceDeletion(alert.pendingAt),
            alertFiringAfterSeconds: sinceDeletion(alert.firingAt),
            alertLastFiringAfterSeconds: sinceDeletion(alert.lastFiringAt),
            alertResolvedAfterSeconds: sinceDeletion(alert.resolvedAt),
            alertLooksFailed: watcher.failedLooks,
          };

          // Memory near maxmemory, which the chart derived from alerts-on.yaml's memory limit:
          // values fill the primary (and through replication every replica) past the alert's
          // ratio, then are deleted. ValkeyMemoryNearLimit fires, then resolves.
          const memoryNearLimitFor = durationSeconds(values.alerts.memoryNearLimit.for);
          const share = Number(values.alerts.memoryNearLimit.ratio) + 0.04;
          const fill = await withClient(await r.endpoint("primary"), r.clientCredentials, (c) =>
            fillMemory(c, `alerts-memory:${env}`, share),
          );
          const filledAt = performance.now();
          const memoryFired = await secondsUntilAlert(prometheus, "ValkeyMemoryNearLimit", "firing", 120_000);
          await withClient(await r.endpoint("primary"), r.clientCredentials, async (c) => {
            for (let i = 0; i < fill.keys.length; i += 100) await c.del(...fill.keys.slice(i, i + 100));
          });
          const memoryResolved = await secondsUntilAlert(prometheus, "ValkeyMemoryNearLimit", "resolved", 120_000);
          const memory = {
            for: memoryNearLimitFor,
            maxmemory: fill.maxmemory,
            filledToBytes: fill.usedBytes,
            keysWritten: fill.keys.length,
            firedAfterSeconds: memoryFired,
            resolvedAfterSeconds: memoryResolved,
          };

          findings.alerts = {
            scrapeAndEvaluationIntervalSeconds: interval,
            writesRefused: { for: writesRefusedFor, firedAfterSeconds: fired, resolvedAfterSeconds: resolved },
            exporterDown: {
              for: exporterDownFor,
              firedAfterSeconds: exporterFired,
              resolvedAfterSeconds: exporterResolved,
            },
            primaryRestart: restart,
            memoryNearLimit: memory,
          };
          console.log(`[failover ${env}] alerts: ${JSON.stringify(findings.alerts)}`);
          // Firing takes the `for` window, plus up to one scrape and one evaluation interval to see it.
          expect(fired, "seconds until ValkeyWritesRefused fired").toBeLessThanOrEqual(
            writesRefusedFor + 2 * interval + 2,
          );
          expect(exporterFired, "seconds until ValkeyExporterDown fired").toBeLessThanOrEqual(
            exporterDownFor + 2 * interval + 5,
          );
          // maxmemory is the chart's share of alerts-on.yaml's limit, computed here from the files.
          expect(fill.maxmemory, "maxmemory the chart derived from the memory limit").toBe(
            Math.floor(
              (bytes(values.valkey.resources.limits.memory) * values.serverConfig.maxmemoryPercentOfLimit) / 100,
            ),
          );
          expect(
            memoryFired,
            `seconds until ValkeyMemoryNearLimit fired, used memory at ${fill.usedBytes} of ${fill.maxmemory} bytes ${((performance.now() - filledAt) / 1000).toFixed(0)} s ago`,
          ).toBeLessThanOrEqual(memoryNearLimitFor + 2 * interval + 5);

          // The primary restart: the window of refused writes, then the alert within it.
          const timeline = `(seconds after pod 0's deletion: ${JSON.stringify(restart)})`;
          expect(refusal.resumedAt, `writes failed after pod 0's deletion, then resumed ${timeline}`).toBeDefined();
          expect(
            refusal.firstNoReplicasAt,
            `the restarted primary refused writes with NOREPLICAS while its replicas resynced, the window this alert is for ${timeline}`,
          ).toBeDefined();
          // Prometheus sees the refusal within a scrape (its timeout included, for the deleted
          // pod), the rule within an evaluation, and then holds it through `for`.
          const needed = writesRefusedFor + 2 * interval + SCRAPE_TIMEOUT_SECONDS;
          const why =
            (refusedSeconds ?? 0) < needed
              ? `writes were refused for only ${refusedSeconds} s, less than the ${needed} s Prometheus needs (for ${writesRefusedFor} s + 2 scrape/evaluation intervals of ${interval} s + the ${SCRAPE_TIMEOUT_SECONDS} s scrape timeout), so the alert could not fire: the primary's restart got faster than fixtures/scenarios/alerts-on.yaml allows for; shorten alerts.writesRefused.for there (or the scrape interval)`
              : alert.pendingAt === undefined
                ? `writes were refused for ${refusedSeconds} s (${needed} s needed), yet the alert never went pending: the rule does not see the refusal`
                : `writes were refused for ${refusedSeconds} s (${needed} s needed), yet the alert went pending and never fired: it let go before its ${writesRefusedFor} s \`for\``;
          expect(
            alert.firingAt,
            `ValkeyWritesRefused fired during the primary's restart: ${why} ${timeline}`,
          ).toBeDefined();
          expect(
            sinceDeletion(alert.firingAt),
            `ValkeyWritesRefused fired while writes were refused (Prometheus sees them resume at its next scrape, the rule at the evaluation after) ${timeline}`,
          ).toBeLessThanOrEqual((sinceDeletion(refusal.resumedAt) as number) + 2 * interval + 1);
          // The check that a rule on connected replicas fails: it resolves once the replicas
          // reconnect to the restarted primary, while the resync still refuses writes. Valkey
          // counts a replica good at most a second before the scrape can: hence the 2 s.
          expect(
            alert.resolvedAt ?? Number.POSITIVE_INFINITY,
            `ValkeyWritesRefused stayed on until writes resumed, through the replicas' resync, instead of resolving while writes were still refused ${timeline}`,
          ).toBeGreaterThanOrEqual((refusal.resumedAt as number) - 2_000);
        } finally {
          await prometheus.stop();
          if (where !== r.namespace)
            await cluster.kube.core.deleteNamespacedConfigMap({ namespace: where, name: rules }).catch(() => undefined);
        }
      });
    });

    // Each scenario breaks a release of its own, so the scenarios run side by side.
    describe("reinstall", () => {
      test.override({ install: { instance: "reinstall" } });
      test("keeps its volumes through helm uninstall, and a reinstall serves the old data", async ({
        cluster,
        release: r,
      }) => {
        const dataset = await withClient(await r.endpoint("primary"), r.clientCredentials, (c) =>
          writeDataset(c, `reinstall:${env}`, 3_000),
        );
        await r.uninstall({ keepVolumes: true });
        const claims = await cluster.kube.core.listNamespacedPersistentVolumeClaim({ namespace: r.namespace });
        expect(claims.items.map((c) => c.metadata?.name).sort()).toEqual(
          Array.from({ length: r.replicas + 1 }, (_, i) => `valkey-data-${r.podName(i)}`).sort(),
        );
        await r.reinstall();
        await withClient(await r.endpoint(0), r.clientCredentials, async (c) => {
          expect((await readDataset(c, dataset)).checksum, "dataset after the reinstall").toBe(dataset.checksum);
        });
        findings.reinstall = { volumesKept: claims.items.length, dataIntact: true };
      });
    });
  },
);
