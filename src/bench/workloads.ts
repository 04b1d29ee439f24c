import type { RunSample } from "../report/bench.ts";
import type { Percentiles } from "./histogram.ts";
import { type LoadResult, type LoadSettings, preload, runLoad } from "./load.ts";
import { progressLine } from "./progress.ts";
import { type FanOutSettings, runFanOut } from "./realtime.ts";
import { benchmarkFromHost, benchmarkInCluster, type ReferenceResult } from "./reference.ts";
import { runSessionLoad, type SessionLoadSettings, SessionService } from "./session.ts";
import type { BenchContext, BenchPath, Workload } from "./workload.ts";

export interface WorkloadOptions {
  /** Commands per second of the open-loop cache workload (VALKEY_BENCH_RATE). */
  openLoopRate: number;
}

/** Generator threads for the closed loop (this machine kind has 2 cores, shared with the cluster). */
const THREADS = 2;
/**
 * The open loop keeps its schedule by yielding to I/O between sends instead of 1 ms
 * timers; one such thread perturbs a 2-core machine less than two (measured: p99 6 ms
 * with one thread, 67-180 ms with two, at 10,000 commands/s).
 */
const OPEN_LOOP_THREADS = 1;

/** A run as the report keeps it: throughput, percentiles in milliseconds, errors. */
export function sample(opsPerSecond: number, micros: Percentiles, errors: Record<string, number>): RunSample {
  return {
    opsPerSecond,
    p50Millis: micros.p50 / 1000,
    p90Millis: micros.p90 / 1000,
    p99Millis: micros.p99 / 1000,
    p999Millis: micros.p999 / 1000,
    errors,
  };
}

function fromLoad(load: LoadResult): RunSample {
  return {
    ...sample(load.opsPerSecond, load.latencyMicros, load.errors),
    sendLagP99Millis: load.sendLagMicros ? load.sendLagMicros.p99 / 1000 : undefined,
  };
}

function fromReference(result: ReferenceResult): RunSample {
  return {
    opsPerSecond: result.opsPerSecond,
    p50Millis: result.latencyMillis.p50,
    p99Millis: result.latencyMillis.p99,
  };
}

/** Maximum throughput, GET over a preloaded key set: equal settings for the generator and valkey-benchmark. */
function closedCache(pipeline: number, maxOperations: number): LoadSettings {
  return {
    mode: "closed",
    connections: 8,
    pipeline,
    keySpace: 10_000,
    distribution: "uniform",
    valueBytes: 256,
    readRatio: 1,
    maxOperations,
    maxSeconds: 30,
  };
}

function generatorPath(settings: LoadSettings, threads: number, expectNoErrors: boolean): BenchPath {
  return {
    id: "generator-host",
    description: "ioredis generator, host -> NodePort",
    unit: "ops/s",
    run: async (context, label) => {
      const load = await runLoad(
        context.address,
        context.credentials,
        settings,
        threads,
        progressLine(label, { total: settings.maxOperations, seconds: settings.maxSeconds, unit: "ops" }),
      );
      if (expectNoErrors && Object.keys(load.errors).length > 0) {
        throw new Error(`${label}: errors during the load: ${JSON.stringify(load.errors)}`);
      }
      return fromLoad(load);
    },
  };
}

/** cache-p16 and cache-p1: one closed loop on three paths with equal settings. */
function cacheClosedLoop(pipeline: number, operations: number): Workload {
  const settings = closedCache(pipeline, operations);
  const id = `cache-p${pipeline}`;
  return {
    id,
    name: `Cache, closed loop, pipeline ${pipeline}: GET over ${settings.keySpace} preloaded keys`,
    latency: pipeline > 1 ? `round trip of a ${pipeline}-command pipeline` : "round trip of one command",
    settings: { ...settings, threads: THREADS },
    prepare: (context) => preload(context.address, context.credentials, settings),
    paths: [
      generatorPath(settings, THREADS, true),
      {
        id: "valkey-benchmark-host",
        description: "valkey-benchmark, host -> NodePort",
        unit: "ops/s",
        run: async (context) =>
          fromReference(await benchmarkFromHost(context.image, settings, context.address.port, "get")),
      },
      {
        id: "valkey-benchmark-in-cluster",
        description: "valkey-benchmark as a Job -> Service",
        unit: "ops/s",
        run: async (context) =>
          fromReference(
            await benchmarkInCluster(
              context.cluster,
              context.release.namespace,
              context.image,
              context.release.fullname,
              settings,
              "get",
            ),
          ),
      },
    ],
    ratios: [
      {
        name: `generator-vs-valkey-benchmark-p${pipeline}`,
        numerator: `${id}/generator-host`,
        denominator: `${id}/valkey-benchmark-host`,
        description: `Generator / valkey-benchmark throughput on the same path, pipeline ${pipeline}`,
      },
      {
        name: `host-path-vs-in-cluster-p${pipeline}`,
        numerator: `${id}/valkey-benchmark-host`,
        denominator: `${id}/valkey-benchmark-in-cluster`,
        description: `Host path / in-cluster throughput (the cost of reaching the cluster from outside), pipeline ${pipeline}`,
      },
    ],
  };
}

/** The cache as applications use it: 90 % GET, 10 % SET, hot keys, at a fixed request rate. */
function cacheOpenLoop(rate: number): Workload {
  const settings: LoadSettings = {
    ...closedCache(1, rate * 10),
    mode: "open",
    rate,
    connections: 16,
    distribution: "zipfian",
    readRatio: 0.9,
    maxSeconds: 10,
  };
  return {
    id: "cache-open",
    name: `Cache, open loop at ${rate} commands/s: 90 % GET, 10 % SET, zipfian keys`,
    latency: "from each command's intended send time (coordinated omission corrected)",
    settings: { ...settings, threads: OPEN_LOOP_THREADS },
    prepare: (context) => preload(context.address, context.credentials, settings),
    paths: [generatorPath(settings, OPEN_LOOP_THREADS, false)],
  };
}

/** Session storage behind an HTTP service, driven by autocannon. */
function sessions(): Workload {
  const settings: SessionLoadSettings = {
    connections: 16,
    readRatio: 0.9,
    sessions: 5_000,
    maxRequests: 100_000,
    maxSeconds: 10,
  };
  let service: SessionService | undefined;
  let ids: string[] = [];
  return {
    id: "sessions",
    name: "Session storage: HTTP service (node:http + ioredis) driven by autocannon, 90 % reads with sliding expiry",
    latency: "HTTP request to response, as autocannon measures it",
    settings: { ...settings, ttlSeconds: 1800 },
    prepare: async (context: BenchContext) => {
      service = await SessionService.start(context.address, context.credentials);
      ids = await service.preload(settings.sessions);
    },
    finish: async () => service?.stop(),
    paths: [
      {
        id: "autocannon-http",
        description: "autocannon -> session service -> NodePort",
        unit: "requests/s",
        run: async (_context, label) => {
          if (!service) throw new Error("the session service did not start");
          const load = await runSessionLoad(
            service,
            ids,
            settings,
            progressLine(label, { total: settings.maxRequests, seconds: settings.maxSeconds, unit: "requests" }),
          );
          if (Object.keys(load.errors).length > 0) {
            throw new Error(`${label}: failed session requests: ${JSON.stringify(load.errors)}`);
          }
          return sample(load.requestsPerSecond, load.latencyMicros, load.errors);
        },
      },
    ],
  };
}

/** Real-time events: pub/sub fan-out; every message must reach every subscriber. */
function realtime(): Workload {
  const settings: FanOutSettings = {
    subscribers: 8,
    rate: 2_000,
    messageBytes: 256,
    maxMessages: 20_000,
    maxSeconds: 10,
  };
  return {
    id: "realtime",
    name: `Real-time events: pub/sub fan-out, 1 publisher at ${settings.rate} messages/s, ${settings.subscribers} subscribers`,
    latency: "publish to delivery at the subscriber (send time carried in the message)",
    settings: { ...settings },
    paths: [
      {
        id: "pubsub-fanout",
        description: "publisher -> Valkey -> subscribers",
        unit: "deliveries/s",
        run: async (context, label) => {
          const result = await runFanOut(
            context.address,
            context.credentials,
            settings,
            progressLine(label, { total: settings.maxMessages, seconds: settings.maxSeconds, unit: "messages" }),
          );
          if (result.lost > 0) throw new Error(`${label}: ${result.lost} deliveries lost`);
          return sample(result.deliveriesPerSecond, result.latencyMicros, result.errors);
        },
      },
    ],
  };
}

/** Every workload of the release benchmark, in the order they run. */
export function benchWorkloads(options: WorkloadOptions): Workload[] {
  return [
    cacheClosedLoop(16, 200_000),
    cacheClosedLoop(1, 60_000),
    cacheOpenLoop(options.openLoopRate),
    sessions(),
    realtime(),
  ];
}
