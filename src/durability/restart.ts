import type { Release } from "../chart/release.ts";
import { isPodReady, statusCode, waitFor } from "../kube/index.ts";
import { parseInfo, withClient } from "../valkey/index.ts";
import { AcknowledgedWriter } from "../valkey/writer.ts";
import { ledgerOnEveryPod, lostAnywhere, whereLost } from "./ledger.ts";
import { converge } from "./scenarios.ts";

/** What one polite primary restart (pod 0 deleted) cost, in seconds since the deletion. */
export interface PrimaryRestart {
  /** pod 0's replacement Ready: the pod's own restart. */
  podReadySeconds: number;
  /** Longest stretch without an acknowledged write (WAIT minReplicasToWrite). */
  writesUnavailableSeconds: number;
  /** writesUnavailableSeconds minus the pod's own restart. */
  beyondPodRestartSeconds: number;
  /** Every replica attached with its link up again. */
  convergedSeconds: number;
  /** Replicas' resynchronisations the restarted primary served: full and partial. */
  fullResyncs: number;
  partialResyncs: number;
  acknowledged: number;
  /** Acknowledged writes missing on some pod, and where. */
  lost: number;
  lostWhere: string;
  errors: Record<string, number>;
  /**
   * Where the time went, in seconds since the deletion: the writer's last acknowledged write
   * before and first after the outage, pod 0 Ready, and the log lines of the replicas and of
   * the new pod 0 about loading and replication (the deleted pod's log is gone), stamped by
   * the kubelet on this machine's clock.
   */
  timeline: string[];
}

/**
 * Deletes pod 0 under an acknowledged writer and measures what the restart cost: the pod's
 * own restart, the writes' outage, the replicas' resyncs, and every acknowledged write
 * looked up on every pod afterwards.
 */
export async function measurePrimaryRestart(release: Release, log: (line: string) => void = () => {}) {
  const { cluster, namespace } = release;
  await converge({ release, cluster, log });
  const min = Number(release.declared.valkey?.replica?.minReplicasToWrite ?? 0);
  const writer = new AcknowledgedWriter(await release.endpoint("primary"), release.clientCredentials, {
    prefix: `restart:${Date.now().toString(36)}`,
    waitReplicas: Math.max(1, min),
    waitTimeoutMs: 500,
    intervalMs: 20,
    maxWrites: 100_000,
    maxSeconds: 300,
  }).start();
  let podReady = 0;
  let converged = 0;
  let deleted = 0;
  let deletedAtEpochMs = 0;
  let report: Awaited<ReturnType<typeof writer.stop>>;
  try {
    await writer.acknowledgedSince(0, 50, 30_000);
    const old = await cluster.kube.core.readNamespacedPod({ namespace, name: release.podName(0) });
    deleted = writer.now();
    deletedAtEpochMs = Date.now();
    await cluster.kube.core.deleteNamespacedPod({ namespace, name: release.podName(0) });
    await waitFor(
      "pod 0 to come back Ready as a new pod",
      async () => {
        const pod = await cluster.kube.core
          .readNamespacedPod({ namespace, name: release.podName(0) })
          .catch((error) => (statusCode(error) === 404 ? undefined : Promise.reject(error)));
        return !!pod && pod.metadata?.uid !== old.metadata?.uid && isPodReady(pod);
      },
      { timeoutMs: 180_000, intervalMs: 100 },
    );
    podReady = writer.now();
    await converge({ release, cluster, log });
    converged = writer.now();
    await writer.acknowledgedSince(converged, 50, 60_000);
  } finally {
    report = await writer.stop();
  }
  const ledger = await ledgerOnEveryPod(release, report.records);
  const stats = await withClient(await release.endpoint(0), release.clientCredentials, async (c) =>
    parseInfo(await c.info("stats")),
  );
  const seconds = (ms: number) => Number(((ms - deleted) / 1000).toFixed(2));
  const acknowledgedAt = report.records.filter((r) => r.outcome === "acknowledged").map((r) => r.answeredAt);
  // The longest gap between acknowledged writes: the outage the result reports.
  let gap = { from: deleted, to: deleted };
  for (let i = 1; i < acknowledgedAt.length; i++) {
    const [from, to] = [acknowledgedAt[i - 1] as number, acknowledgedAt[i] as number];
    if (to - from > gap.to - gap.from) gap = { from, to };
  }
  const timeline = [
    `${seconds(gap.from).toFixed(2)} s writer: last acknowledged write before the outage`,
    `${seconds(podReady).toFixed(2)} s harness: pod 0 Ready`,
    `${seconds(gap.to).toFixed(2)} s writer: first acknowledged write after the outage`,
    ...(await podLogTimeline(release, deletedAtEpochMs)),
  ].sort((a, b) => Number.parseFloat(a) - Number.parseFloat(b));
  const result: PrimaryRestart = {
    podReadySeconds: seconds(podReady),
    writesUnavailableSeconds: report.longestOutageSeconds,
    beyondPodRestartSeconds: Number((report.longestOutageSeconds - seconds(podReady)).toFixed(2)),
    convergedSeconds: seconds(converged),
    // The restarted primary counts from its own start: these are the resyncs it served.
    fullResyncs: Number(stats.sync_full),
    partialResyncs: Number(stats.sync_partial_ok),
    acknowledged: report.acknowledged,
    lost: lostAnywhere(ledger).length,
    lostWhere: whereLost(ledger) || "nowhere",
    errors: report.errors,
    timeline,
  };
  return result;
}

const TIMELINE_LINE =
  /Ready to accept|Loading|loaded|DB saved|shutdown|Shutdown|PRIMARY|MASTER|[Rr]eplica|sync|Connecting|Connection|Timeout|Error|Streamed|wrapper-init/;

/** The pods' log lines that tell where a restart's time went, stamped by the kubelet, since epochMs. */
async function podLogTimeline(release: Release, sinceEpochMs: number): Promise<string[]> {
  const { cluster, namespace } = release;
  const lines: string[] = [];
  for (let index = 0; index <= release.replicas; index++) {
    const name = release.podName(index);
    const pod = await cluster.kube.core.readNamespacedPod({ namespace, name }).catch(() => undefined);
    const containers = [...(pod?.spec?.initContainers ?? []), ...(pod?.spec?.containers ?? [])]
      .map((c) => c.name)
      .filter((c) => c !== "metrics");
    for (const container of containers) {
      const text = await cluster.kube.core
        .readNamespacedPodLog({ namespace, name, container, timestamps: true, sinceSeconds: 600 })
        .catch(() => "");
      for (const line of String(text).split("\n")) {
        const space = line.indexOf(" ");
        const at = Date.parse(line.slice(0, space));
        if (!Number.isFinite(at) || at < sinceEpochMs - 2_000 || !TIMELINE_LINE.test(line)) continue;
        lines.push(
          `${((at - sinceEpochMs) / 1000).toFixed(2)} s pod ${index}/${container}: ${line.slice(space + 1).trim()}`,
        );
      }
    }
  }
  return lines;
}
