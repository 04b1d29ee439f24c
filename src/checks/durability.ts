import { killValkeyProcess, waitForValkeyRestart } from "../durability/crash.ts";
import { ledgerOnEveryPod, lostAnywhere, whereLost } from "../durability/ledger.ts";
import { isPodReady, statusCode, waitFor } from "../kube/index.ts";
import { type Dataset, parseInfo, readDataset, replicationInfo, withClient, writeDataset } from "../valkey/index.ts";
import { AcknowledgedWriter, acknowledgedAfter, type WriteRecord } from "../valkey/writer.ts";
import { type Check, type CheckContext, Verdict } from "./check.ts";

/**
 * Replicas attached to pod 0 and done syncing (`state=online`): connected_slaves also
 * counts replicas still in a full resync, which min-replicas-to-write does not count.
 */
async function attachedReplicas(context: CheckContext): Promise<number> {
  return withClient(await context.release.endpoint(0), context.release.clientCredentials, async (primary) => {
    const info = await replicationInfo(primary);
    return Object.entries(info).filter(([key, value]) => /^slave\d+$/.test(key) && value.includes("state=online"))
      .length;
  });
}

async function waitForAllAttached(context: CheckContext, verdict: Verdict, moment: string): Promise<void> {
  await waitFor(
    `every replica to be attached ${moment}`,
    async () => (await attachedReplicas(context)) === context.expected.replicas,
    {
      timeoutMs: 90_000,
      intervalMs: 500,
    },
  ).catch(async () =>
    verdict.fail(
      `${await attachedReplicas(context)} of ${context.expected.replicas} replicas attached to pod 0 ${moment}`,
    ),
  );
}

/** After pod 0's restart: every replica re-attaches and holds the dataset (within 30 s). */
async function replicasHoldDataset(context: CheckContext, verdict: Verdict, dataset: Dataset): Promise<void> {
  const { release, expected } = context;
  await waitForAllAttached(context, verdict, "after pod 0's restart");
  for (let i = 1; i <= expected.replicas; i++) {
    await withClient(await release.endpoint(i), release.clientCredentials, async (replica) => {
      const read = await waitFor(
        `pod ${i} to hold the dataset`,
        async () => {
          const r = await readDataset(replica, dataset);
          return r.checksum === dataset.checksum ? r : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 500 },
      ).catch(() => readDataset(replica, dataset));
      verdict.that(
        read.checksum === dataset.checksum,
        `pod ${i} lacks the dataset after pod 0's restart: ${read.missing} missing`,
      );
    });
  }
}

export const primaryRestart: Check = {
  id: "durability.primary-restart",
  promise:
    "keeps a checksummed dataset on pod 0's volume when pod 0 is deleted, serves it from the new pod 0, and every replica re-attaches and holds it",
  disruptive: true,
  async run(context) {
    const verdict: Verdict = new Verdict(this.id);
    const { release, cluster, expected } = context;
    const dataset = await withClient(await release.endpoint("primary"), release.clientCredentials, async (primary) => {
      const written = await writeDataset(primary, `durable:${expected.env}`, 5_000);
      verdict.equal(
        await primary.wait(expected.replicas, 5_000),
        expected.replicas,
        "replicas acknowledging WAIT before the deletion",
      );
      return written;
    });
    const before = await cluster.kube.core.readNamespacedPod({
      namespace: release.namespace,
      name: release.podName(0),
    });
    await cluster.kube.core.deleteNamespacedPod({ namespace: release.namespace, name: release.podName(0) });
    await waitFor(
      "pod 0 to come back Ready as a new pod",
      async () => {
        const pod = await cluster.kube.core.readNamespacedPod({
          namespace: release.namespace,
          name: release.podName(0),
        });
        return pod.metadata?.uid !== before.metadata?.uid && isPodReady(pod);
      },
      { timeoutMs: 180_000, intervalMs: 500 },
    );
    await withClient(await release.endpoint(0), release.clientCredentials, async (primary) => {
      const read = await readDataset(primary, dataset);
      verdict.that(
        read.checksum === dataset.checksum,
        `the restarted pod 0 lost data its volume held: ${read.missing} of ${dataset.count} keys missing, ${read.wrong} wrong`,
      );
    });
    await replicasHoldDataset(context, verdict, dataset);
  },
};

/** Deletes pod 0 and waits until a new pod 0 is Ready. */
async function replacePrimaryPod(context: CheckContext): Promise<void> {
  const { release, cluster } = context;
  const before = await cluster.kube.core.readNamespacedPod({ namespace: release.namespace, name: release.podName(0) });
  await cluster.kube.core.deleteNamespacedPod({ namespace: release.namespace, name: release.podName(0) });
  await waitFor(
    "pod 0 to come back Ready as a new pod",
    async () => {
      const pod = await cluster.kube.core
        .readNamespacedPod({ namespace: release.namespace, name: release.podName(0) })
        .catch((error) => (statusCode(error) === 404 ? undefined : Promise.reject(error)));
      return !!pod && pod.metadata?.uid !== before.metadata?.uid && isPodReady(pod);
    },
    { timeoutMs: 180_000, intervalMs: 500 },
  );
}

export const rdbOnlyRestart: Check = {
  id: "durability.rdb-only-restart",
  promise:
    "keeps every key when pod 0 restarts on a data directory that holds only an RDB file (a release made before the append-only default): the append-only file is written from it before Valkey starts",
  notApplicable: (features) =>
    features.appendOnly
      ? undefined
      : "the environment does not turn the append-only file on: Valkey loads the RDB file",
  disruptive: true,
  async run(context) {
    const verdict: Verdict = new Verdict(this.id);
    const { release, cluster, expected } = context;
    const dataset = await withClient(await release.endpoint(0), release.clientCredentials, async (primary) => {
      const written = await writeDataset(primary, `rdb-only:${expected.env}`, 2_000);
      verdict.equal(await primary.wait(expected.replicas, 5_000), expected.replicas, "replicas acknowledging WAIT");
      // As an earlier wrapper left it: the append-only file off and gone, the RDB file saved.
      await primary.config("SET", "appendonly", "no");
      await primary.call("SAVE");
      return written;
    });
    const removed = await cluster.kube.exec(release.namespace, release.podName(0), release.fullname, [
      "sh",
      "-c",
      "rm -rf /data/appendonlydir && ls /data",
    ]);
    verdict.that(removed.exitCode === 0, `could not remove pod 0's append-only file: ${removed.stderr}`);
    verdict.that(
      !removed.stdout.includes("appendonlydir") && removed.stdout.includes("dump.rdb"),
      `pod 0's data directory should hold dump.rdb and no appendonlydir, holds: ${removed.stdout.trim()}`,
    );
    await replacePrimaryPod(context);
    await withClient(await release.endpoint(0), release.clientCredentials, async (primary) => {
      const read = await readDataset(primary, dataset);
      verdict.that(
        read.checksum === dataset.checksum,
        `the restarted pod 0 came back with ${dataset.count - read.missing} of ${dataset.count} keys (${read.wrong} wrong): Valkey started its append-only file empty instead of from the RDB file`,
      );
      const [, appendonly] = (await primary.config("GET", "appendonly")) as [string, string];
      verdict.equal(appendonly, "yes", "appendonly on pod 0 after the restart");
    });
    await replicasHoldDataset(context, verdict, dataset);
  },
};

/** How long a replica on a new volume may take to receive the dataset (a few MB, on one machine). */
const RESYNC_BOUND_MS = 60_000;

/** The primary's full-resync count, and its run id (the count restarts with the process). */
async function fullSyncs(context: CheckContext): Promise<{ count: number; runId: string }> {
  return withClient(await context.release.endpoint(0), context.release.clientCredentials, async (primary) => ({
    count: Number(parseInfo(await primary.info("stats")).sync_full),
    runId: parseInfo(await primary.info("server")).run_id as string,
  }));
}

export const replicaResync: Check = {
  id: "durability.replica-resync",
  promise:
    "gives a replica whose volume is lost (claim deleted with its pod) a new, empty volume and the whole dataset by a full resync from the primary",
  disruptive: true,
  async run(context) {
    const verdict: Verdict = new Verdict(this.id);
    const { release, cluster, expected } = context;
    const last = expected.replicas;
    const podName = release.podName(last);
    const claimName = `valkey-data-${podName}`;
    await waitForAllAttached(context, verdict, "before the replica's volume is deleted");
    const dataset = await withClient(await release.endpoint("primary"), release.clientCredentials, async (primary) => {
      const written = await writeDataset(primary, `resync:${expected.env}`, 2_000);
      verdict.equal(
        await primary.wait(expected.replicas, 5_000),
        expected.replicas,
        "replicas acknowledging WAIT before the loss",
      );
      return written;
    });
    const syncsBefore = await fullSyncs(context);
    const oldClaim = await cluster.kube.core.readNamespacedPersistentVolumeClaim({
      namespace: release.namespace,
      name: claimName,
    });
    // The claim's protection finalizer holds it until its pod is gone; then the StatefulSet makes a new one.
    await cluster.kube.core.deleteNamespacedPersistentVolumeClaim({ namespace: release.namespace, name: claimName });
    await cluster.kube.core.deleteNamespacedPod({ namespace: release.namespace, name: podName, gracePeriodSeconds: 0 });
    await waitFor(
      `claim ${claimName} to be replaced by a new one and pod ${last} to be Ready on it`,
      async () => {
        const claim = await cluster.kube.core
          .readNamespacedPersistentVolumeClaim({ namespace: release.namespace, name: claimName })
          .catch((error) => (statusCode(error) === 404 ? undefined : Promise.reject(error)));
        const pod = await cluster.kube.core
          .readNamespacedPod({ namespace: release.namespace, name: podName })
          .catch((error) => (statusCode(error) === 404 ? undefined : Promise.reject(error)));
        // A pod created while the old claim was still terminating never starts: delete it so the controller retries.
        if (pod && !isPodReady(pod) && claim === undefined && pod.status?.phase === "Pending") {
          const age = Date.now() - new Date(pod.metadata?.creationTimestamp ?? Date.now()).getTime();
          if (age > 10_000)
            await cluster.kube.core.deleteNamespacedPod({
              namespace: release.namespace,
              name: podName,
              gracePeriodSeconds: 0,
            });
        }
        return (
          claim &&
          claim.metadata?.uid !== oldClaim.metadata?.uid &&
          claim.status?.phase === "Bound" &&
          pod &&
          isPodReady(pod)
        );
      },
      { timeoutMs: 240_000, intervalMs: 1000 },
    );
    await withClient(await release.endpoint(last), release.clientCredentials, async (replica) => {
      await waitFor(
        `pod ${last} to sync with the primary`,
        async () => (await replicationInfo(replica)).master_link_status === "up",
        { timeoutMs: RESYNC_BOUND_MS, intervalMs: 500 },
      ).catch(async () => {
        const info = await replicationInfo(replica);
        verdict.fail(
          `pod ${last} on its new volume did not complete a full resync from the primary within ${RESYNC_BOUND_MS / 1000} s (master_link_status ${info.master_link_status}, master_sync_in_progress ${info.master_sync_in_progress})`,
        );
      });
      const read = await readDataset(replica, dataset);
      verdict.that(
        read.checksum === dataset.checksum,
        `pod ${last} on its new volume lacks the dataset: ${read.missing} of ${dataset.count} keys missing, ${read.wrong} wrong`,
      );
    });
    const syncsAfter = await fullSyncs(context);
    verdict.that(
      syncsAfter.runId === syncsBefore.runId,
      `the primary's process restarted during the check (run_id ${syncsBefore.runId} -> ${syncsAfter.runId}): look for a liveness-probe restart in the events`,
    );
    verdict.that(
      syncsAfter.count > syncsBefore.count,
      `the primary's sync_full stayed at ${syncsBefore.count}: pod ${last} did not receive a full resync (it kept data of its own)`,
    );
  },
};

/** How long appendfsync everysec may hold an acknowledged write back from the file (Valkey postpones a write for at most 2 s while a background fsync runs). */
export const AOF_WINDOW_MS = 2_000;
/** Acknowledged writes the check needs before the kill and after the restart: proof the ledger measured something. */
const WRITES_EACH_SIDE = 20;

/**
 * The lost writes the append-only file's window excuses: acknowledged at most `AOF_WINDOW_MS`
 * before the kill was issued and no later than its confirmation (writer clock, ms). A write
 * acknowledged earlier was in the file; one acknowledged later came from the restarted server.
 */
export function outsideAofWindow(lost: readonly WriteRecord[], killIssuedAt: number, killConfirmedAt: number) {
  const ok = (r: WriteRecord) => r.okAt ?? r.answeredAt;
  return lost.filter((r) => ok(r) < killIssuedAt - AOF_WINDOW_MS || ok(r) > killConfirmedAt);
}

export const processCrash: Check = {
  id: "durability.process-crash",
  promise:
    "loses no acknowledged write on any pod when the primary's process is killed (SIGKILL, no shutdown save), except those of the append-only file's 2 s window before the kill",
  notApplicable: (features) =>
    features.appendOnly
      ? undefined
      : "the environment does not turn the append-only file on: a crash loses the writes since the last RDB save (docs/durability-and-failover.md)",
  disruptive: true,
  requires: "nodeControl",
  async run(context) {
    const verdict: Verdict = new Verdict(this.id);
    const { release, cluster, expected } = context;
    await waitForAllAttached(context, verdict, "before the crash");
    const writer = new AcknowledgedWriter(await release.endpoint("primary"), release.clientCredentials, {
      prefix: `process-crash:${expected.env}`,
      waitReplicas: Math.max(expected.minReplicasToWrite, 1),
      waitTimeoutMs: 500,
      intervalMs: 20,
      maxWrites: 20_000,
      maxSeconds: 300,
    }).start();
    let report: Awaited<ReturnType<typeof writer.stop>>;
    let killIssuedAt = 0;
    let killConfirmedAt = 0;
    let delayedFsyncs = "?";
    try {
      await writer.acknowledgedSince(0, WRITES_EACH_SIDE * 5, 30_000);
      delayedFsyncs = await withClient(await release.endpoint(0), release.clientCredentials, async (c) =>
        String(parseInfo(await c.info("persistence")).aof_delayed_fsync ?? "?"),
      );
      killIssuedAt = writer.now();
      const restarts = await killValkeyProcess(cluster, release, 0);
      killConfirmedAt = writer.now();
      await waitForValkeyRestart(cluster, release, 0, restarts);
      await waitForAllAttached(context, verdict, "after the primary's restart");
      await writer.acknowledgedSince(killConfirmedAt, WRITES_EACH_SIDE, 60_000);
    } finally {
      report = await writer.stop();
    }
    const before = report.records.filter((r) => r.outcome === "acknowledged" && r.answeredAt < killIssuedAt).length;
    const after = acknowledgedAfter(report, killConfirmedAt);
    verdict.that(
      before >= WRITES_EACH_SIDE,
      `only ${before} write(s) were acknowledged before the kill: the ledger proves nothing`,
    );
    verdict.that(
      after >= WRITES_EACH_SIDE,
      `only ${after} write(s) were acknowledged after the restart: writes did not resume`,
    );
    const ledger = await ledgerOnEveryPod(release, report.records);
    for (const pod of ledger.filter((p) => !p.inSync))
      verdict.fail(`pod ${pod.pod} never caught up with the primary after the restart (${pod.syncNote})`);
    const lost = lostAnywhere(ledger);
    const beyond = outsideAofWindow(lost, killIssuedAt, killConfirmedAt);
    if (lost.length > beyond.length) {
      context.log(
        `[durability ${expected.env}] ${lost.length - beyond.length} acknowledged write(s) of the ${AOF_WINDOW_MS / 1000} s before the kill lost (within the window; aof_delayed_fsync ${delayedFsyncs} before it)`,
      );
    }
    verdict.that(
      beyond.length === 0,
      `${beyond.length} of ${report.acknowledged} acknowledged writes lost when pod 0's process was killed fall outside the append-only file's window [kill - ${AOF_WINDOW_MS / 1000} s, kill confirmed] (${beyond.filter((r) => r.replicas > 0).length} of them confirmed by WAIT; ${lost.length} lost in all: ${whereLost(ledger)}), e.g. ${beyond
        .slice(0, 3)
        .map(
          (r) =>
            `${r.key} acknowledged ${(((r.okAt ?? r.answeredAt) - killIssuedAt) / 1000).toFixed(2)} s from the kill`,
        )
        .join(", ")}`,
    );
  },
};
