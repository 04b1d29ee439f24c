import { converge } from "../durability/scenarios.ts";
import { isPodReady, waitFor } from "../kube/index.ts";
import type { RunSample } from "../report/bench.ts";
import { perMillion, preloadKeySpace, processCpuSeconds } from "./accounting.ts";
import { fromLoad, OPEN_LOOP_THREADS, openCacheSettings } from "./common.ts";
import { type LoadSettings, runLoad } from "./load.ts";
import { progressLine } from "./progress.ts";
import type { BenchContext, BenchPath, Workload } from "./workload.ts";

/** Seconds of load before the disruption starts, and in all. */
const BEFORE_SECONDS = 5;
// After a primary restart writes stay refused (NOREPLICAS) until a replica has synced
// with it again: about 30 s after a primary restart, about 60 s after a rolling restart,
// measured here. The run must outlast both.
const TOTAL_SECONDS = 90;

type Disrupt = (context: BenchContext, mark: (what: string) => void) => Promise<void>;

/**
 * The open-loop cache load through a disruption: throughput, p50/p99 and errors per
 * second, with the disruption's moments marked. Its connections reconnect; the errors are
 * what the disruption costs (not a failure), but the load must be back to its rate, error
 * free, in its last 5 seconds.
 */
function throughDisruption(id: string, name: string, rate: number, disrupt: Disrupt): Workload {
  const settings: LoadSettings = { ...openCacheSettings(rate, TOTAL_SECONDS), reconnect: true, timeline: true };
  const path: BenchPath = {
    id: "generator-host",
    description: "ioredis generator (reconnecting), host -> NodePort",
    unit: "ops/s",
    run: async (context, label): Promise<RunSample> => {
      const events: { at: number; what: string }[] = [];
      const started = performance.now();
      const mark = (what: string) => {
        events.push({ at: Number(((performance.now() - started) / 1000).toFixed(1)), what });
        context.log(`[bench] ${label}: ${events.at(-1)?.at} s ${what}`);
      };
      const cpu = processCpuSeconds();
      const loading = runLoad(
        context.address,
        context.credentials,
        settings,
        OPEN_LOOP_THREADS,
        progressLine(label, { total: settings.maxOperations, seconds: settings.maxSeconds, unit: "ops" }),
      );
      await new Promise((resolve) => setTimeout(resolve, BEFORE_SECONDS * 1000));
      const disrupted = disrupt(context, mark);
      const [load] = await Promise.all([loading, disrupted]);
      const timeline = load.timeline ?? [];
      const tail = timeline.slice(-6, -1);
      const recovered = tail.length > 0 && tail.every((s) => s.errors === 0 && s.operations >= rate * 0.8);
      if (!recovered) {
        throw new Error(
          `${label}: the load did not recover by the end of the run: last seconds ${JSON.stringify(tail.map((s) => ({ ops: s.operations, errors: s.errors })))}`,
        );
      }
      return {
        ...fromLoad(load),
        clientCpuPerMillion: perMillion(processCpuSeconds() - cpu, load.operations),
        timeline,
        events,
      };
    },
  };
  return {
    id,
    name,
    latency: "from each command's intended send time, per second of the run",
    settings: { ...settings, threads: OPEN_LOOP_THREADS, disruptionAfterSeconds: BEFORE_SECONDS },
    runs: 1,
    prepare: (context) => preloadKeySpace(context.address, context.credentials, settings.keySpace, settings.valueBytes),
    paths: [path],
  };
}

/** Waits until every pod of the release is Ready and none is terminating. */
async function allReady(context: BenchContext, what: string): Promise<void> {
  await waitFor(
    what,
    async () => {
      const pods = await context.cluster.kube.pods(context.release.namespace, context.release.labelSelector);
      return (
        pods.length === context.release.replicas + 1 &&
        pods.every((p) => isPodReady(p) && !p.metadata?.deletionTimestamp)
      );
    },
    { timeoutMs: 240_000, intervalMs: 250 },
  );
}

const restartPrimary: Disrupt = async (context, mark) => {
  const { release, cluster } = context;
  mark("pod 0 (the primary) deleted");
  await cluster.kube.core.deleteNamespacedPod({ namespace: release.namespace, name: release.podName(0) });
  await allReady(context, "pod 0 to be back");
  mark("pod 0 Ready again");
  await converge({ release, cluster, log: context.log });
  mark("every replica attached again: writes accepted");
};

const rollingRestart: Disrupt = async (context, mark) => {
  const { release, cluster } = context;
  mark("rolling restart of the StatefulSet (as kubectl rollout restart)");
  await release.requestRollingRestart();
  // OrderedReady: the highest pod first, the primary last.
  for (let i = release.replicas; i >= 0; i--) {
    const name = release.podName(i);
    const before = (await cluster.kube.core.readNamespacedPod({ namespace: release.namespace, name })).metadata?.uid;
    await waitFor(
      `${name} to be replaced and Ready`,
      async () => {
        const pod = await cluster.kube.core
          .readNamespacedPod({ namespace: release.namespace, name })
          .catch(() => undefined);
        return pod && pod.metadata?.uid !== before && isPodReady(pod);
      },
      { timeoutMs: 240_000, intervalMs: 250 },
    );
    mark(`pod ${i} restarted and Ready`);
  }
  await converge({ release, cluster, log: context.log });
  mark("every replica attached again: writes accepted");
};

/** The cache load through a primary restart and through a rolling restart of the release. */
export function disruptionWorkloads(rate: number): Workload[] {
  return [
    throughDisruption(
      "cache-primary-restart",
      `Cache at ${rate} commands/s through a restart of the primary (pod 0 deleted)`,
      rate,
      restartPrimary,
    ),
    throughDisruption(
      "cache-rolling-restart",
      `Cache at ${rate} commands/s through a rolling restart of the release`,
      rate,
      rollingRestart,
    ),
  ];
}
