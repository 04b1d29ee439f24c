import type { Release } from "../chart/release.ts";
import type { Cluster, NodeContainerInfo, NodeControl } from "../cluster/index.ts";
import { POWER_LOSS_PATH, POWER_LOSS_PROVISIONER } from "../cluster/power-loss.ts";
import { isPodReady, statusCode, waitFor } from "../kube/index.ts";
import { parseInfo, replicationInfo, withClient } from "../valkey/index.ts";
import { AcknowledgedWriter, type WriterReport } from "../valkey/writer.ts";
import { killValkeyProcess, waitForValkeyRestart } from "./crash.ts";
import { ledgerOnEveryPod, lostAnywhere, type PodLedger, whereLost } from "./ledger.ts";
import { allowedToLose, type LostWrite, onWallClock, type PersistenceAtCrash, type Profile } from "./profiles.ts";

export interface ScenarioContext {
  cluster: Cluster;
  release: Release;
  profile: Profile;
  log: (line: string) => void;
}

/** A scenario's measurement, the profile's promise beside it, and the verdict. */
export interface ScenarioResult {
  scenario: string;
  env: string;
  profile: string;
  promise: string;
  attempted: number;
  acknowledged: number;
  /** Acknowledged and confirmed by WAIT on at least one replica. */
  confirmed: number;
  refused: number;
  unknown: number;
  errors: Record<string, number>;
  /** Acknowledged writes missing on at least one pod once the release converged. */
  lost: number;
  /** Where: pod ordinal -> acknowledged writes it lacks (only pods that lack some). */
  lostByPod: Record<string, number>;
  /** Acknowledged before the disruption began, and sent after the release converged again. */
  acknowledgedBefore: number;
  acknowledgedAfter: number;
  lostConfirmed: number;
  /** Lost writes the promise did not allow. */
  lostBeyondPromise: number;
  /** Keys the converged replicas hold that the primary lost (the replicas should mirror it). */
  divergent: number;
  unavailableSeconds: number;
  /** What happened when, seconds since the writer started. */
  timeline: { at: number; what: string }[];
  persistenceAtCrash?: PersistenceAtCrash;
  /** pass / fail against the promise, or `reported` where no profile promises anything. */
  verdict: "pass" | "fail" | "reported";
  reason: string;
  /** The first lost writes beyond the promise, with their times (epoch ms). */
  lostBeyondPromiseTimeline: LostWrite[];
  /** Every lost write, with its times: another promise can be judged against the same measurement. */
  lostWrites: LostWrite[];
}

/** What a scenario's disruption reports back to the ledger. */
interface Disruption {
  /** The primary's persistence just before its crash, for `since-last-save` verdicts. */
  crash?: PersistenceAtCrash;
  /** Scenarios no profile makes a promise about. */
  reportOnly?: string;
  /** Extra conditions the scenario promises (e.g. NOREPLICAS seen), failing when unmet. */
  expectations?: (report: WriterReport) => string[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function requireNodes(cluster: Cluster): NodeControl {
  if (!cluster.nodeControl) throw new Error("crash scenarios need the harness's own cluster (node control)");
  return cluster.nodeControl;
}

async function podOf(context: ScenarioContext, index: number) {
  return context.cluster.kube.core.readNamespacedPod({
    namespace: context.release.namespace,
    name: context.release.podName(index),
  });
}

export async function killValkey(context: ScenarioContext, index: number): Promise<number> {
  return killValkeyProcess(context.cluster, context.release, index);
}

async function waitRestarted(context: ScenarioContext, index: number, restartsBefore: number): Promise<void> {
  await waitForValkeyRestart(context.cluster, context.release, index, restartsBefore);
}

async function persistenceNow(context: ScenarioContext): Promise<PersistenceAtCrash> {
  const info = await withClient(await context.release.endpoint(0), context.release.clientCredentials, async (c) =>
    parseInfo(await c.info("persistence")),
  );
  return {
    crashAt: Date.now(),
    aofDelayedFsync: info.aof_delayed_fsync === undefined ? undefined : Number(info.aof_delayed_fsync),
    rdbLastSaveTime: Number(info.rdb_last_save_time),
    rdbChangesSinceLastSave: Number(info.rdb_changes_since_last_save),
    rdbLastBgsaveSeconds: Math.max(0, Number(info.rdb_last_bgsave_time_sec)),
    aofEnabled: info.aof_enabled === "1",
  };
}

/** Every pod Ready, every replica attached to pod 0 with its link up. */
export async function converge(
  context: Pick<ScenarioContext, "release" | "cluster" | "log">,
  timeoutMs = 240_000,
): Promise<void> {
  const { release } = context;
  await release.waitReady(timeoutMs);
  await waitFor(
    "every replica to be attached to pod 0 with its link up",
    async () => {
      const attached = await withClient(await release.endpoint(0, 10_000), release.clientCredentials, async (c) =>
        Number((await replicationInfo(c)).connected_slaves),
      );
      if (attached !== release.replicas) return false;
      for (let i = 1; i <= release.replicas; i++) {
        const link = await withClient(
          await release.endpoint(i, 10_000),
          release.clientCredentials,
          async (c) => (await replicationInfo(c)).master_link_status,
        );
        if (link !== "up") return false;
      }
      return true;
    },
    { timeoutMs, intervalMs: 500 },
  );
}

/** Acknowledged writes a scenario needs before its disruption and after convergence: proof the ledger measured something. */
const WRITES_EACH_SIDE = 20;

/**
 * Runs a disruption with the acknowledged-write ledger: a writer (unique keys, SET + WAIT
 * minReplicasToWrite every 20 ms) runs from before the disruption until writes resumed
 * after the release converged again; then every acknowledged key is looked up on every pod
 * (each replica once it caught up with the primary) and a key missing anywhere is judged
 * against the profile's promise. Too few writes on either side fails the scenario.
 */
async function withLedger(
  context: ScenarioContext,
  scenario: string,
  disrupt: (mark: (what: string) => void) => Promise<Disruption>,
): Promise<ScenarioResult> {
  const { release, profile } = context;
  const min = Number(release.declared.valkey.replica.minReplicasToWrite ?? 0);
  // A release can be Ready before its replicas finished their first sync: start from a converged one.
  await converge(context);
  const writer = new AcknowledgedWriter(await release.endpoint("primary"), release.clientCredentials, {
    prefix: `${scenario}:${profile.name}`,
    waitReplicas: Math.max(min, 1),
    waitTimeoutMs: 500,
    intervalMs: 20,
    maxWrites: 50_000,
    maxSeconds: 600,
  }).start();
  const timeline: { at: number; what: string }[] = [];
  const mark = (what: string) => {
    timeline.push({ at: Number((writer.now() / 1000).toFixed(2)), what });
    context.log(`[durability ${release.env} ${profile.name} ${scenario}] ${timeline.at(-1)?.at} s: ${what}`);
  };
  let disruption: Disruption;
  let report: WriterReport;
  let disruptedAt = 0;
  let convergedAt = 0;
  try {
    await sleep(3_000);
    await writer.acknowledgedSince(0, WRITES_EACH_SIDE, 30_000);
    disruptedAt = writer.now();
    disruption = await disrupt(mark);
    await converge(context);
    convergedAt = writer.now();
    mark("converged: every pod Ready, every replica attached");
    await writer.acknowledgedSince(convergedAt, WRITES_EACH_SIDE, 60_000);
    mark("writes resumed");
  } finally {
    report = await writer.stop();
  }
  const acknowledged = report.records.filter((r) => r.outcome === "acknowledged");
  const acknowledgedBefore = acknowledged.filter((r) => r.answeredAt < disruptedAt).length;
  const acknowledgedAfter = acknowledged.filter((r) => r.at >= convergedAt).length;
  const ledger = await ledgerOnEveryPod(release, report.records);
  const [primary, ...replicas] = ledger as [PodLedger, ...PodLedger[]];
  const lostRecords = lostAnywhere(ledger);
  const lost = lostRecords.map((r) => onWallClock(r, report.startedAtEpochMs));
  const beyond = disruption.crash
    ? lost.filter((l) => !allowedToLose(profile.promise, l, disruption.crash as PersistenceAtCrash))
    : disruption.reportOnly
      ? []
      : lost;
  const expectationsUnmet = [
    ...(acknowledgedBefore < WRITES_EACH_SIDE
      ? [
          `only ${acknowledgedBefore} write(s) acknowledged before the disruption (at least ${WRITES_EACH_SIDE}): the ledger proves nothing`,
        ]
      : []),
    ...(acknowledgedAfter < WRITES_EACH_SIDE
      ? [
          `only ${acknowledgedAfter} write(s) acknowledged after the release converged (at least ${WRITES_EACH_SIDE}): writes did not resume`,
        ]
      : []),
    ...ledger.filter((p) => !p.inSync).map((p) => `pod ${p.pod} never caught up with the primary (${p.syncNote})`),
    ...(disruption.expectations?.(report) ?? []),
  ];
  const verdict = disruption.reportOnly
    ? expectationsUnmet.length === 0
      ? "reported"
      : "fail"
    : beyond.length === 0 && expectationsUnmet.length === 0
      ? "pass"
      : "fail";
  const where = whereLost(ledger);
  const reason = [
    disruption.reportOnly
      ? disruption.reportOnly
      : beyond.length > 0
        ? `${beyond.length} acknowledged write(s) lost beyond the promise (${profile.promise.words}): ${where}`
        : `losses within the promise (${profile.promise.words})${where ? `: ${where}` : ""}`,
    ...expectationsUnmet,
  ].join("; ");
  return {
    scenario,
    env: release.env,
    profile: profile.name,
    promise: profile.promise.words,
    attempted: report.attempted,
    acknowledged: report.acknowledged,
    acknowledgedBefore,
    acknowledgedAfter,
    confirmed: report.confirmed,
    refused: report.refused,
    unknown: report.unknown,
    errors: report.errors,
    lost: lost.length,
    lostByPod: Object.fromEntries(
      ledger.filter((p) => p.missing.length > 0).map((p) => [String(p.pod), p.missing.length]),
    ),
    lostConfirmed: lost.filter((l) => l.replicas > 0).length,
    lostBeyondPromise: beyond.length,
    divergent: primary.missing.filter((r) => replicas.some((pod) => !pod.missing.includes(r))).length,
    unavailableSeconds: report.longestOutageSeconds,
    timeline,
    persistenceAtCrash: disruption.crash,
    verdict,
    reason,
    lostBeyondPromiseTimeline: beyond.slice(0, 20),
    lostWrites: lost,
  };
}

/** 1. The primary's process killed (SIGKILL): no shutdown save; the container restarts in place. */
export function primaryProcessKill(context: ScenarioContext): Promise<ScenarioResult> {
  return withLedger(context, "primary-process-killed", async (mark) => {
    const crash = await persistenceNow(context);
    crash.crashAt = Date.now();
    const restarts = await killValkey(context, 0);
    crash.crashConfirmedAt = Date.now();
    mark("SIGKILL to valkey-server in pod 0");
    await waitRestarted(context, 0, restarts);
    mark("pod 0's Valkey restarted and Ready");
    return { crash };
  });
}

/** 3a. Every replica's process killed at once: writes refused (NOREPLICAS) until enough return, none lost. */
export function replicasProcessKill(context: ScenarioContext): Promise<ScenarioResult> {
  return withLedger(context, "replicas-process-killed", async (mark) => {
    // At once: an RDB-only replica is back by partial resync in under a second, before a
    // second, sequential kill would land, and the replicas would never be down together.
    const replicas = Array.from({ length: context.release.replicas }, (_, i) => i + 1);
    // The writer may sit in one WAIT through that short window: a probe writes every 20 ms,
    // from before the kills (a probe started after them missed a window under a second).
    const probing = probeWhileReplicasDown(context);
    const restarts = await Promise.all(replicas.map((i) => killValkey(context, i)));
    mark(`SIGKILL to valkey-server in every replica (${context.release.replicas}), at once`);
    const probe = await probing;
    mark(`probe write around the kills: ${probe}`);
    for (let i = 1; i <= context.release.replicas; i++) await waitRestarted(context, i, restarts[i - 1] as number);
    mark("every replica restarted and Ready");
    return {
      expectations: (report) => {
        const min = Number(context.release.declared.valkey.replica.minReplicasToWrite ?? 0);
        const problems: string[] = [];
        if (min > 0 && !report.errors.NOREPLICAS && probe !== "NOREPLICAS")
          problems.push(
            `no write was refused with NOREPLICAS while every replica was down (the writer's nor the probe's: ${probe})`,
          );
        return problems;
      },
    };
  });
}

/** Writes to the primary every 20 ms for up to 3 s; the first refusal's code, or what happened instead. */
async function probeWhileReplicasDown(context: ScenarioContext): Promise<string> {
  const { release } = context;
  return withClient(await release.endpoint(0), release.clientCredentials, async (c) => {
    for (let attempt = 0; attempt < 150; attempt++) {
      const refused = await c.set("durability:probe", String(attempt)).then(
        () => undefined,
        (error: Error) => error.message.split(" ")[0] ?? error.message,
      );
      if (refused) return refused;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return "every probe write for 3 s was accepted";
  });
}

/** Deletes pod `index` together with its volume claim; the StatefulSet makes a new, empty one. */
async function loseVolume(context: ScenarioContext, index: number): Promise<void> {
  const { release, cluster } = context;
  const claim = `valkey-data-${release.podName(index)}`;
  const old = await cluster.kube.core.readNamespacedPersistentVolumeClaim({
    namespace: release.namespace,
    name: claim,
  });
  await cluster.kube.core.deleteNamespacedPersistentVolumeClaim({ namespace: release.namespace, name: claim });
  await cluster.kube.core.deleteNamespacedPod({
    namespace: release.namespace,
    name: release.podName(index),
    gracePeriodSeconds: 0,
  });
  await waitFor(
    `pod ${index} to run again on a new volume`,
    async () => {
      const now = await cluster.kube.core
        .readNamespacedPersistentVolumeClaim({ namespace: release.namespace, name: claim })
        .catch((error) => (statusCode(error) === 404 ? undefined : Promise.reject(error)));
      const pod = await podOf(context, index).catch((error) =>
        statusCode(error) === 404 ? undefined : Promise.reject(error),
      );
      // A pod created while the old claim still terminated never starts: delete it so the controller retries.
      if (pod && now === undefined && pod.status?.phase === "Pending") {
        const age = Date.now() - new Date(pod.metadata?.creationTimestamp ?? Date.now()).getTime();
        if (age > 10_000) {
          await cluster.kube.core.deleteNamespacedPod({
            namespace: release.namespace,
            name: release.podName(index),
            gracePeriodSeconds: 0,
          });
        }
      }
      return now && now.metadata?.uid !== old.metadata?.uid && pod && isPodReady(pod);
    },
    { timeoutMs: 240_000, intervalMs: 500 },
  );
}

async function fullSyncs(context: ScenarioContext): Promise<number> {
  return withClient(await context.release.endpoint(0), context.release.clientCredentials, async (c) =>
    Number(parseInfo(await c.info("stats")).sync_full),
  );
}

/** 4a. A replica's volume lost: it resynchronises in full from the primary, none lost. */
export function replicaVolumeLost(context: ScenarioContext): Promise<ScenarioResult> {
  return withLedger(context, "replica-volume-lost", async (mark) => {
    const before = await fullSyncs(context);
    const last = context.release.replicas;
    mark(`pod ${last} deleted with its volume claim`);
    await loseVolume(context, last);
    mark(`pod ${last} running on a new, empty volume`);
    await converge(context);
    const after = await fullSyncs(context);
    return {
      expectations: () => (after > before ? [] : [`the primary's sync_full stayed at ${before}: no full resync`]),
    };
  });
}

/**
 * 4b. The primary's volume lost (the worst case): pod 0 comes back empty and, as the
 * chart has no failover, the replicas resynchronise to it and drop everything too.
 * No profile promises anything here: reported as measured.
 */
export function primaryVolumeLost(context: ScenarioContext): Promise<ScenarioResult> {
  return withLedger(context, "primary-volume-lost", async (mark) => {
    mark("pod 0 deleted with its volume claim");
    await loseVolume(context, 0);
    mark("pod 0 running on a new, empty volume");
    return {
      reportOnly:
        "no persistence setting protects against losing the primary's volume: upstream's chart never promotes a replica, so pod 0 restarts empty and its replicas resynchronise to it",
    };
  });
}

/**
 * 5. The primary killed while a replica does its full sync (during the BGSAVE the sync
 * needs). The save is slowed (rdb-key-save-delay, a Valkey test setting, reset by the
 * restart) so that the kill lands inside it.
 */
export function killDuringResync(context: ScenarioContext): Promise<ScenarioResult> {
  return withLedger(context, "primary-killed-during-full-resync", async (mark) => {
    const { release, cluster } = context;
    await withClient(await release.endpoint(0), release.clientCredentials, (c) =>
      c.config("SET", "rdb-key-save-delay", "20000"),
    );
    const last = release.replicas;
    const claim = `valkey-data-${release.podName(last)}`;
    await cluster.kube.core.deleteNamespacedPersistentVolumeClaim({ namespace: release.namespace, name: claim });
    await cluster.kube.core.deleteNamespacedPod({
      namespace: release.namespace,
      name: release.podName(last),
      gracePeriodSeconds: 0,
    });
    mark(`pod ${last} deleted with its volume claim: it will ask for a full resync`);
    await waitFor(
      "the primary to start the BGSAVE of the full resync",
      async () =>
        withClient(await release.endpoint(0), release.clientCredentials, async (c) => {
          return parseInfo(await c.info("persistence")).rdb_bgsave_in_progress === "1";
        }),
      { timeoutMs: 180_000, intervalMs: 100 },
    );
    const crash = await persistenceNow(context);
    crash.crashAt = Date.now();
    const restarts = await killValkey(context, 0);
    crash.crashConfirmedAt = Date.now();
    mark("SIGKILL to valkey-server in pod 0 during the BGSAVE of the full resync");
    await waitRestarted(context, 0, restarts);
    mark("pod 0's Valkey restarted and Ready");
    return { crash };
  });
}

/** Where pod `index` runs, and that node's container (node-crash scenarios). */
async function nodeOfPod(context: ScenarioContext, index: number) {
  const nodes = requireNodes(context.cluster);
  const pod = await podOf(context, index);
  const node = nodes.node(pod.spec?.nodeName as string);
  if (node.role === "server") {
    throw new Error(
      `pod ${index} runs on the server node, whose crash takes the API with it: install the release off the server (fixtures/scenarios/off-the-server.yaml)`,
    );
  }
  return { nodes, node };
}

/** Records pod `index`'s and its node's state every 2 s while `ms` pass. */
async function observe(
  context: ScenarioContext,
  index: number,
  nodeName: string,
  ms: number,
  mark: (what: string) => void,
) {
  let last = "";
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const pod = await podOf(context, index).catch(() => undefined);
    const node = await context.cluster.kube.core.readNode({ name: nodeName }).catch(() => undefined);
    const ready = node?.status?.conditions?.find((c) => c.type === "Ready");
    const state = `pod ${index}: phase ${pod?.status?.phase ?? "gone"}, Ready ${isPodReady(pod ?? {})}${pod?.metadata?.deletionTimestamp ? ", terminating" : ""}; node ${nodeName}: Ready ${ready?.status ?? "?"}${ready?.reason ? ` (${ready.reason})` : ""}`;
    if (state !== last) mark(state);
    last = state;
    await sleep(2_000);
  }
}

/**
 * How a node's crash treats pod `index`'s volume. On a power-loss disk
 * (src/cluster/power-loss.ts) the crash loses what was never synced, as a machine losing
 * power does; on any other volume the host keeps its page cache, so only the processes die.
 * Read from the pod's claims and their StorageClass, and from the node's mounts.
 */
async function crashKind(
  context: ScenarioContext,
  index: number,
  node: NodeContainerInfo,
): Promise<"lost-power" | "crashed"> {
  const { kube } = context.cluster;
  const namespace = context.release.namespace;
  const pod = await podOf(context, index);
  const claims = (pod.spec?.volumes ?? []).flatMap((v) =>
    v.persistentVolumeClaim ? [v.persistentVolumeClaim.claimName] : [],
  );
  const volumes = await Promise.all(
    claims.map(async (name) => {
      const claim = await kube.core.readNamespacedPersistentVolumeClaim({ namespace, name });
      const className = claim.spec?.storageClassName;
      const provisioner = className ? (await kube.storage.readStorageClass({ name: className })).provisioner : "";
      const volume = claim.spec?.volumeName
        ? await kube.core.readPersistentVolume({ name: claim.spec.volumeName })
        : undefined;
      return { name, provisioner, path: volume?.spec?.hostPath?.path ?? volume?.spec?.local?.path ?? "" };
    }),
  );
  const onDisk = volumes.filter((v) => v.provisioner === POWER_LOSS_PROVISIONER);
  if (onDisk.length === 0) return "crashed";
  const elsewhere = onDisk.filter((v) => !v.path.startsWith(`${POWER_LOSS_PATH}/`));
  if (elsewhere.length > 0)
    throw new Error(
      `pod ${index}'s claims ${elsewhere.map((v) => `${v.name} (at ${v.path || "no path"})`).join(", ")} are of ${POWER_LOSS_PROVISIONER} but not under ${POWER_LOSS_PATH}: their node's crash would not lose power`,
    );
  const disks = context.cluster.powerLossDisks;
  if (!disks || !(await disks.mounted(node)))
    throw new Error(
      `pod ${index}'s volume is of ${POWER_LOSS_PROVISIONER} but node ${node.name} has no power-loss disk mounted at ${POWER_LOSS_PATH}: its crash would not lose power`,
    );
  return "lost-power";
}

/**
 * 2. The node under the primary crashes: its container killed (every process on it dies
 * at once) and, on a power-loss disk, whatever was not synced lost with it; it stays down
 * `downMs` and starts again.
 */
export async function primaryNodeCrash(context: ScenarioContext, downMs = 30_000): Promise<ScenarioResult> {
  const { node } = await nodeOfPod(context, 0);
  const kind = await crashKind(context, 0, node);
  return withLedger(context, `primary-node-${kind}`, async (mark) => {
    const { nodes, node } = await nodeOfPod(context, 0);
    const crash = await persistenceNow(context);
    crash.crashAt = Date.now();
    await nodes.crash(node);
    crash.crashConfirmedAt = Date.now();
    mark(
      `node ${node.name} (pod 0's) ${kind === "lost-power" ? "lost power (unsynced data on its disk gone)" : "crashed"}`,
    );
    await observe(context, 0, node.name, downMs, mark);
    await nodes.start(node);
    mark(`node ${node.name} started again and Ready`);
    return { crash };
  });
}

/** 3b. The node under a replica crashes and returns: writes go on if enough replicas remain, none lost. */
export async function replicaNodeCrash(context: ScenarioContext, downMs = 20_000): Promise<ScenarioResult> {
  const { node } = await nodeOfPod(context, 1);
  const kind = await crashKind(context, 1, node);
  return withLedger(context, `replica-node-${kind}`, async (mark) => {
    const { nodes, node } = await nodeOfPod(context, 1);
    await nodes.crash(node);
    mark(
      `node ${node.name} (pod 1's) ${kind === "lost-power" ? "lost power (unsynced data on its disk gone)" : "crashed"}`,
    );
    await observe(context, 1, node.name, downMs, mark);
    await nodes.start(node);
    mark(`node ${node.name} started again and Ready`);
    return {};
  });
}
