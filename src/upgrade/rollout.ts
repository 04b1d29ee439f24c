import type { V1Pod } from "@kubernetes/client-node";
import { preloadKeySpace } from "../bench/accounting.ts";
import { openCacheSettings } from "../bench/common.ts";
import { runLoad } from "../bench/load.ts";
import type { Release } from "../chart/release.ts";
import { ledgerOnEveryPod, lostAnywhere } from "../durability/ledger.ts";
import { converge } from "../durability/scenarios.ts";
import { isPodReady } from "../kube/index.ts";
import type { TimelineEvent, TimelineSecond } from "../report/timeline-chart.ts";
import { type Dataset, readDataset, withClient } from "../valkey/index.ts";
import { AcknowledgedWriter, acknowledgedAfter } from "../valkey/writer.ts";

/** One pod replaced during a rollout, in seconds since the observation started. */
export interface PodRestart {
  pod: string;
  /** When the old pod was seen terminating (or already gone). */
  stoppedAt: number;
  /** When its replacement was first seen Ready. */
  readyAt?: number;
}

/** A container restarted in place (same pod: liveness probe, OOM kill, crash), in seconds since the observation started. */
export interface ContainerRestart {
  pod: string;
  container: string;
  /** restartCount before and after. */
  from: number;
  to: number;
  at: number;
  /** Why its last instance ended (OOMKilled, Error, Completed...), as the kubelet reports it. */
  reason?: string;
}

/** What a release change did to the service while it ran. */
export interface RolloutObservation {
  action: string;
  /** The action's error (helm's own words), when it failed. */
  error?: string;
  /** From the action's start to every pod Ready and every replica attached again. */
  secondsToConverged: number;
  /** Pods replaced, in the order they went down. */
  restarts: PodRestart[];
  /** Containers restarted in place (the pod kept): every one is a failure of the step. */
  containerRestarts: ContainerRestart[];
  /** The watcher's first look at the pods failed: restarts could not be told apart from the pods it started with. */
  watcherBlind?: string;
  writes: {
    /** Replicas each write's WAIT asked for (the environment's minReplicasToWrite, at least 1). */
    waitedFor: number;
    attempted: number;
    acknowledged: number;
    /** Acknowledged before the action started, and sent after the release converged again. */
    acknowledgedBefore: number;
    acknowledgedAfter: number;
    /** Acknowledged writes missing on at least one pod once the release converged. */
    lost: number;
    /** Where: pod ordinal -> acknowledged writes it lacks (only pods that lack some). */
    lostByPod: Record<string, number>;
    /** Replicas read before they reached the primary's offset, with their state. */
    outOfSync: string[];
    refused: number;
    unknown: number;
    /** Longest stretch without an acknowledged write. */
    unavailableSeconds: number;
    errors: Record<string, number>;
  };
  load: {
    rate: number;
    operations: number;
    errors: number;
    /** Seconds of the timeline in which at least one command failed. */
    errorSeconds: number;
    p50Millis: number;
    p99Millis: number;
    maxMillis: number;
  };
  timeline: TimelineSecond[];
  events: TimelineEvent[];
}

export interface RolloutOptions {
  /** Open-loop commands per second (90 % GET, 10 % SET on a preloaded key space). */
  rate?: number;
  /** Seconds of load before the action and after convergence, for comparison. */
  quietSeconds?: number;
  /** Upper bound of the whole observation; the load and the writer stop by themselves there. */
  maxSeconds?: number;
  log?: (line: string) => void;
}

const KEY_SPACE = 1_000;
/** Acknowledged writes a step must show before its action and after it converged: proof the writer measured something. */
export const WRITES_EACH_SIDE = 20;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs `action` (an upgrade, a rollback, a rolling restart) while an acknowledged-write
 * writer and an open-loop cache load run against the primary Service, and a watcher
 * records which pods went down and came back, when. Both clients reach the primary
 * through a port-forward to the Ready pod behind the primary Service, so they follow the
 * primary wherever it is. Bounded in time and operations.
 */
export async function observeRollout(
  release: Release,
  action: string,
  run: () => Promise<void>,
  options: RolloutOptions = {},
): Promise<RolloutObservation> {
  const rate = options.rate ?? 200;
  const quiet = (options.quietSeconds ?? 3) * 1000;
  const maxSeconds = options.maxSeconds ?? 600;
  const log = options.log ?? (() => {});
  const endpoint = await release.endpoint("primary");
  const credentials = release.clientCredentials;
  const settings = {
    ...openCacheSettings(rate, maxSeconds),
    connections: 4,
    keySpace: KEY_SPACE,
    reconnect: true,
    timeline: true,
  };
  await preloadKeySpace(endpoint, credentials, KEY_SPACE, settings.valueBytes);
  // "Confirmed" as the environment means it: WAIT for as many replicas as it requires.
  const waitReplicas = Math.max(Number(release.declared.valkey?.replica?.minReplicasToWrite ?? 0), 1);

  const started = performance.now();
  const now = () => Number(((performance.now() - started) / 1000).toFixed(1));
  const events: TimelineEvent[] = [];
  const mark = (what: string) => {
    events.push({ at: now(), what });
    log(`[rollout ${release.env}] ${now()} s ${what}`);
  };
  const stopLoad = new AbortController();
  const loading = runLoad(endpoint, credentials, settings, 1, () => {}, stopLoad.signal);
  // Awaited once the action is over; until then a failure must not count as unhandled.
  loading.catch(() => {});
  const writer = new AcknowledgedWriter(endpoint, credentials, {
    prefix: `rollout:${action.replaceAll(/\s+/g, "-")}:${Date.now().toString(36)}`,
    waitReplicas,
    waitTimeoutMs: 500,
    intervalMs: 20,
    maxWrites: maxSeconds * 50,
    maxSeconds,
  }).start();
  const watcher = new PodWatcher(release, now, mark);
  const watching = watcher.run();

  let error: string | undefined;
  let converged = 0;
  let actionAtWriterMs = 0;
  let convergedAtWriterMs = 0;
  let stopped: ReturnType<typeof stopEverything>;
  const stopEverything = () => Promise.all([loading, writer.stop(), watching]);
  try {
    await sleep(quiet);
    await watcher.firstLook(10_000);
    await writer.acknowledgedSince(0, WRITES_EACH_SIDE, 30_000);
    const actionStart = now();
    actionAtWriterMs = writer.now();
    mark(`${action} started`);
    await run().catch((failure: Error) => {
      error = failure.message;
      mark(`${action} failed`);
    });
    await converge({ release, cluster: release.cluster, log });
    converged = now() - actionStart;
    convergedAtWriterMs = writer.now();
    mark("every pod Ready, every replica attached");
    // Writes must resume: wait for a number of them rather than a fixed time.
    await writer.acknowledgedSince(convergedAtWriterMs, WRITES_EACH_SIDE, 30_000);
    await sleep(quiet);
  } finally {
    // Whatever happened, the writer, the load and the watcher stop here (they are bounded, but
    // by minutes, and the release is about to be uninstalled).
    stopLoad.abort();
    watcher.stop();
    stopped = stopEverything();
    await stopped.catch(() => undefined);
  }
  const [load, report] = await stopped;
  const ledger = await ledgerOnEveryPod(release, report.records);
  const acknowledged = report.records.filter((r) => r.outcome === "acknowledged");
  const timeline = load.timeline ?? [];
  return {
    action,
    error,
    secondsToConverged: Number(converged.toFixed(1)),
    restarts: watcher.restarts(),
    containerRestarts: watcher.containerRestarts(),
    watcherBlind: watcher.blind,
    writes: {
      waitedFor: waitReplicas,
      attempted: report.attempted,
      acknowledged: report.acknowledged,
      acknowledgedBefore: acknowledged.filter((r) => r.answeredAt < actionAtWriterMs).length,
      acknowledgedAfter: convergedAtWriterMs > 0 ? acknowledgedAfter(report, convergedAtWriterMs) : 0,
      lost: lostAnywhere(ledger).length,
      lostByPod: Object.fromEntries(
        ledger.filter((p) => p.missing.length > 0).map((p) => [String(p.pod), p.missing.length]),
      ),
      outOfSync: ledger.filter((p) => !p.inSync).map((p) => `pod ${p.pod}: ${p.syncNote}`),
      refused: report.refused,
      unknown: report.unknown,
      unavailableSeconds: report.longestOutageSeconds,
      errors: report.errors,
    },
    load: {
      rate,
      operations: load.operations,
      errors: Object.values(load.errors).reduce((a, b) => a + b, 0),
      errorSeconds: timeline.filter((second) => second.errors > 0).length,
      p50Millis: load.latencyMicros.p50 / 1000,
      p99Millis: load.latencyMicros.p99 / 1000,
      maxMillis: load.latencyMicros.max / 1000,
    },
    timeline,
    events,
  };
}

/**
 * Polls the release's pods: which were replaced (a new UID) and when their successors were
 * Ready, and which containers restarted in place (restartCount rose: liveness, OOM).
 */
class PodWatcher {
  private readonly release: Release;
  private readonly now: () => number;
  private readonly mark: (what: string) => void;
  private readonly initial = new Map<string, { uid: string; restarts: Map<string, number> }>();
  private readonly changes = new Map<string, PodRestart>();
  private readonly inPlace: ContainerRestart[] = [];
  private readonly counted = new Map<string, number>();
  private looked = false;
  private lastListError = "";
  private stopped = false;
  blind?: string;

  constructor(release: Release, now: () => number, mark: (what: string) => void) {
    this.release = release;
    this.now = now;
    this.mark = mark;
  }

  /** Resolves once the pods were seen before anything happened; records the watcher as blind if they never were. */
  async firstLook(timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (!this.looked && performance.now() < deadline) await sleep(100);
    if (!this.looked)
      this.blind = `the pods could not be listed within ${timeoutMs / 1000} s before the action${this.lastListError ? `: ${this.lastListError}` : ""}`;
  }

  async run(): Promise<void> {
    let lastError = "";
    while (!this.stopped) {
      const pods = await this.release.cluster.kube
        .pods(this.release.namespace, this.release.labelSelector)
        .catch((error: Error) => {
          lastError = error.message;
          return undefined;
        });
      if (pods && !this.looked) {
        for (const pod of pods) {
          const restarts = new Map(
            (pod.status?.containerStatuses ?? []).map((c) => [c.name, c.restartCount] as [string, number]),
          );
          this.initial.set(pod.metadata?.name ?? "", { uid: pod.metadata?.uid ?? "", restarts });
          for (const [container, count] of restarts) this.counted.set(`${pod.metadata?.uid}/${container}`, count);
        }
        this.looked = true;
      } else if (pods) {
        for (const pod of pods) this.compare(pod);
      }
      if (!this.looked && lastError) this.lastListError = lastError;
      await sleep(250);
    }
  }

  private compare(pod: V1Pod): void {
    const name = pod.metadata?.name ?? "";
    const uid = pod.metadata?.uid ?? "";
    const original = this.initial.get(name);
    const replaced = original?.uid !== uid;
    if (!this.changes.has(name) && (replaced || pod.metadata?.deletionTimestamp)) {
      this.changes.set(name, { pod: name, stoppedAt: this.now() });
      this.mark(`${name} ${replaced ? "replaced" : "terminating"}`);
    }
    const current = this.changes.get(name);
    if (current && replaced && current.readyAt === undefined && isPodReady(pod)) {
      current.readyAt = this.now();
      this.mark(`${name} Ready again`);
    }
    // A new pod starts at its own count (0); a count that rises within one pod is a restart in place.
    for (const status of pod.status?.containerStatuses ?? []) {
      const key = `${uid}/${status.name}`;
      const before = this.counted.get(key) ?? 0;
      if (status.restartCount > before) {
        const reason = status.lastState?.terminated?.reason;
        this.inPlace.push({
          pod: name,
          container: status.name,
          from: before,
          to: status.restartCount,
          at: this.now(),
          reason,
        });
        this.mark(
          `${name}: container ${status.name} restarted in place (restartCount ${before} -> ${status.restartCount}${reason ? `, ${reason}` : ""})`,
        );
      }
      this.counted.set(key, status.restartCount);
    }
  }

  stop(): void {
    this.stopped = true;
  }

  restarts(): PodRestart[] {
    return [...this.changes.values()].sort((a, b) => a.stoppedAt - b.stoppedAt);
  }

  containerRestarts(): ContainerRestart[] {
    return [...this.inPlace];
  }
}

/** `kubectl rollout restart`: a new pod template annotation, then every pod replaced in order. */
export async function rollingRestart(release: Release): Promise<void> {
  await release.requestRollingRestart();
  await release.waitReady(300_000);
}

/** Whether the dataset written after install is intact on every pod; the problem in words, or undefined. */
export async function datasetBroken(release: Release, dataset: Dataset): Promise<string | undefined> {
  for (let i = 0; i <= release.replicas; i++) {
    const checksum = await withClient(
      await release.endpoint(i),
      release.clientCredentials,
      async (c) => (await readDataset(c, dataset)).checksum,
    ).catch((error: Error) => `unreadable (${error.message})`);
    if (checksum !== dataset.checksum)
      return `the dataset written after install differs on pod ${i}: checksum ${checksum}, expected ${dataset.checksum}`;
  }
  return undefined;
}
