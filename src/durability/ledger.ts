import type { Release } from "../chart/release.ts";
import { waitFor } from "../kube/index.ts";
import { replicationInfo, withClient } from "../valkey/index.ts";
import type { WriteRecord } from "../valkey/writer.ts";

/** What one pod holds of an acknowledged-write ledger, read once it reports in sync with the primary. */
export interface PodLedger {
  pod: number;
  role: "primary" | "replica";
  /** Acknowledged writes this pod does not hold. */
  missing: WriteRecord[];
  /** The replica's link was up and its offset had reached the primary's when it was read. */
  inSync: boolean;
  /** Why a replica was read out of sync (its link status and offsets). */
  syncNote?: string;
}

/** How long a replica may take to catch up with the primary's offset before it is read anyway. */
const SYNC_WAIT_MS = 60_000;

async function missingOn(release: Release, pod: number, acknowledged: WriteRecord[]): Promise<WriteRecord[]> {
  return withClient(await release.endpoint(pod), release.clientCredentials, async (client) => {
    const missing: WriteRecord[] = [];
    for (let start = 0; start < acknowledged.length; start += 500) {
      const batch = acknowledged.slice(start, start + 500);
      const values = await client.mget(batch.map((r) => r.key));
      values.forEach((value, j) => {
        if (value === null) missing.push(batch[j] as WriteRecord);
      });
    }
    return missing;
  });
}

/**
 * Looks every acknowledged write up on the primary and on every replica, each replica once
 * its link is up and its offset has reached the primary's (waited for up to a minute; a
 * replica still behind is read anyway and marked). A write missing on any pod is a loss:
 * clients reading through the `-read` Service are served by the replicas.
 */
export async function ledgerOnEveryPod(release: Release, records: readonly WriteRecord[]): Promise<PodLedger[]> {
  const acknowledged = records.filter((r) => r.outcome === "acknowledged");
  const primaryOffset = await withClient(await release.endpoint(0), release.clientCredentials, async (c) =>
    Number((await replicationInfo(c)).master_repl_offset),
  );
  const pods: PodLedger[] = [
    { pod: 0, role: "primary", missing: await missingOn(release, 0, acknowledged), inSync: true },
  ];
  for (let pod = 1; pod <= release.replicas; pod++) {
    let note = "";
    const inSync = await waitFor(
      `pod ${pod} to reach the primary's replication offset ${primaryOffset}`,
      async () =>
        withClient(await release.endpoint(pod, 10_000), release.clientCredentials, async (c) => {
          const info = await replicationInfo(c);
          note = `link ${info.master_link_status}, offset ${info.slave_repl_offset} of the primary's ${primaryOffset}`;
          return info.master_link_status === "up" && Number(info.slave_repl_offset) >= primaryOffset;
        }),
      { timeoutMs: SYNC_WAIT_MS, intervalMs: 250 },
    ).then(
      () => true,
      () => false,
    );
    pods.push({
      pod,
      role: "replica",
      missing: await missingOn(release, pod, acknowledged),
      inSync,
      syncNote: inSync ? undefined : note,
    });
  }
  return pods;
}

/** Keys missing on at least one pod, each once. */
export function lostAnywhere(ledger: readonly PodLedger[]): WriteRecord[] {
  const byKey = new Map<string, WriteRecord>();
  for (const pod of ledger) for (const record of pod.missing) byKey.set(record.key, record);
  return [...byKey.values()];
}

/** "pod 0: 3, pod 2: 3": where the losses are, for messages and reports. */
export function whereLost(ledger: readonly PodLedger[]): string {
  return ledger
    .filter((p) => p.missing.length > 0 || !p.inSync)
    .map((p) => `pod ${p.pod}: ${p.missing.length}${p.inSync ? "" : ` (read out of sync: ${p.syncNote})`}`)
    .join(", ");
}
