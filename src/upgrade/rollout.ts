import { preloadKeySpace } from "../bench/accounting.ts";
import { openCacheSettings } from "../bench/common.ts";
import { runLoad } from "../bench/load.ts";
import type { Release } from "../chart/release.ts";
import { converge } from "../durability/scenarios.ts";
import { isPodReady } from "../kube/index.ts";
import type { TimelineEvent, TimelineSecond } from "../report/timeline-chart.ts";
import { type Dataset, readDataset, withClient } from "../valkey/index.ts";
import { AcknowledgedWriter, missingAcknowledged } from "../valkey/writer.ts";

/** One pod replaced during a rollout, in seconds since the observation started. */
export interface PodRestart {
  pod: string;
  /** When the old pod was seen terminating (or already gone). */
  stoppedAt: number;
  /** When its replacement was first seen Ready. */
  readyAt?: number;
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
  writes: {
    attempted: number;
    acknowledged: number;
    /** Acknowledged writes the primary no longer holds once the release converged. */
    lost: number;
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
    waitReplicas: 1,
    waitTimeoutMs: 500,
    intervalMs: 20,
    maxWrites: maxSeconds * 50,
    maxSeconds,
  }).start();
  const watcher = new PodWatcher(release, now, mark);
  const watching = watcher.run();

  let error: string | undefined;
  let converged = 0;
  try {
    await sleep(quiet);
    const actionStart = now();
    mark(`${action} started`);
    await run().catch((failure: Error) => {
      error = failure.message;
      mark(`${action} failed`);
    });
    await converge({ release, cluster: release.cluster, log });
    converged = now() - actionStart;
    mark("every pod Ready, every replica attached");
    await sleep(quiet);
  } finally {
    stopLoad.abort();
    watcher.stop();
  }
  const [load, report] = await Promise.all([loading, writer.stop(), watching]);
  const { missing } = await withClient(await release.endpoint("primary"), credentials, (c) =>
    missingAcknowledged(c, report.records, false),
  );
  const timeline = load.timeline ?? [];
  return {
    action,
    error,
    secondsToConverged: Number(converged.toFixed(1)),
    restarts: watcher.restarts(),
    writes: {
      attempted: report.attempted,
      acknowledged: report.acknowledged,
      lost: missing.length,
      refused: report.refused,
      unknown: report.unknown,
      unavailableSeconds: report.longestOutageSeconds,
      errors: report.errors,
    },
    load: {
      rate,
      operations: load.operations,
      errors: Object.values(load.errors).reduce((a, b) => a + b, 0),
      p50Millis: load.latencyMicros.p50 / 1000,
      p99Millis: load.latencyMicros.p99 / 1000,
      maxMillis: load.latencyMicros.max / 1000,
    },
    timeline,
    events,
  };
}

/** Polls the release's pods and records which were replaced and when their successors were Ready. */
class PodWatcher {
  private readonly release: Release;
  private readonly now: () => number;
  private readonly mark: (what: string) => void;
  private readonly initial = new Map<string, string>();
  private readonly changes = new Map<string, PodRestart>();
  private stopped = false;

  constructor(release: Release, now: () => number, mark: (what: string) => void) {
    this.release = release;
    this.now = now;
    this.mark = mark;
  }

  async run(): Promise<void> {
    let first = true;
    while (!this.stopped) {
      const pods = await this.release.cluster.kube
        .pods(this.release.namespace, this.release.labelSelector)
        .catch(() => undefined);
      for (const pod of pods ?? []) {
        const name = pod.metadata?.name ?? "";
        const uid = pod.metadata?.uid ?? "";
        if (first) {
          this.initial.set(name, uid);
          continue;
        }
        const original = this.initial.get(name);
        const change = this.changes.get(name);
        const replaced = original !== uid;
        if (!change && (replaced || pod.metadata?.deletionTimestamp)) {
          this.changes.set(name, { pod: name, stoppedAt: this.now() });
          this.mark(`${name} ${replaced ? "replaced" : "terminating"}`);
        }
        const current = this.changes.get(name);
        if (current && replaced && current.readyAt === undefined && isPodReady(pod)) {
          current.readyAt = this.now();
          this.mark(`${name} Ready again`);
        }
      }
      first = false;
      await sleep(250);
    }
  }

  stop(): void {
    this.stopped = true;
  }

  restarts(): PodRestart[] {
    return [...this.changes.values()].sort((a, b) => a.stoppedAt - b.stoppedAt);
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
