import { PROFILE_ENVIRONMENTS } from "../environments.ts";
import { perMillion, preloadKeySpace, processCpuSeconds } from "./accounting.ts";
import {
  closedCache,
  fromLoad,
  fromReference,
  generatorRun,
  OPEN_LOOP_THREADS,
  openCacheSettings,
  sample,
  THREADS,
  verifiedRun,
} from "./common.ts";
import { disruptionWorkloads } from "./disruption.ts";
import { generatorImage, placeGeneratorImage } from "./generator-image.ts";
import { prePullGenerator, runGeneratorsInCluster } from "./in-cluster.ts";
import type { LoadEngine, LoadSettings } from "./load.ts";
import { persistenceWorkload } from "./persistence.ts";
import { progressLine } from "./progress.ts";
import { type FanOutSettings, runFanOut } from "./realtime.ts";
import { benchmarkFromHost, benchmarkInCluster } from "./reference.ts";
import { runSessionLoad, type SessionLoadSettings, SessionService } from "./session.ts";
import { tlsWorkload } from "./tls.ts";
import type { BenchContext, BenchPath, Workload } from "./workload.ts";

export interface WorkloadOptions {
  /** Commands per second of the open-loop cache workload (VALKEY_BENCH_RATE). */
  openLoopRate: number;
  /** The environment benchmarked: the TLS workload runs where the TLS profile fits. */
  env?: string;
  /** Only these workloads, by id (VALKEY_BENCH_WORKLOADS); unknown ids are an error. */
  only?: readonly string[];
  /** Counts of in-cluster generator pods the closed cache loops also run with (VALKEY_BENCH_GENERATORS). */
  generators?: readonly number[];
  /**
   * Load from inside the cluster only (a cluster of your own, reached by VALKEY_KUBECONFIG):
   * the closed cache loops on their in-cluster paths; every host-side path would measure
   * this machine and its tunnel, not the release.
   */
  inClusterOnly?: boolean;
}

function generatorPath(settings: LoadSettings, threads: number, engine: LoadEngine = "ioredis"): BenchPath {
  return {
    id: engine === "lean" ? "lean-host" : "generator-host",
    description:
      engine === "lean"
        ? "lean generator (raw sockets, commands encoded once, replies counted), host -> NodePort"
        : "ioredis generator, host -> NodePort",
    unit: "ops/s",
    run: (context, label) => generatorRun(context, label, settings, threads, engine),
  };
}

/** The lean generator as `n` pods inside the cluster, against the primary Service: no host path, no tunnel. */
function inClusterPath(settings: LoadSettings, n: number): BenchPath {
  return {
    id: `lean-cluster-${n}`,
    description:
      n === 1
        ? "lean generator as 1 pod in the cluster -> Service"
        : `lean generator as ${n} pods spread over the nodes -> Service (histograms merged)`,
    unit: "ops/s",
    run: async (context, label) => {
      // Built and placed before the run's counters (the first run only: both are kept).
      const image = await placeGeneratorImage(context.cluster, await generatorImage(context.image), (placed) =>
        prePullGenerator(context.cluster, context.release.namespace, placed),
      );
      return verifiedRun(
        context,
        label,
        () => settings.maxOperations,
        async () => {
          const load = await runGeneratorsInCluster(
            context.cluster,
            context.release.namespace,
            image,
            context.release.fullname,
            context.credentials,
            settings,
            n,
          );
          context.log(
            `${label}: ${load.generators.map((g) => `#${g.index} on ${g.node} ${g.opsPerSecond} ops/s${g.clientBound ? " (client-bound)" : ""}`).join(", ")}`,
          );
          return {
            sample: { ...fromLoad(load.result), generators: load.generators },
            clientCpuSeconds: load.cpuSeconds,
            wallSeconds: load.windowSeconds,
            threads: n,
          };
        },
      );
    },
  };
}

/** cache-p16 and cache-p1: one closed loop on three paths with equal settings and equal, verified work. */
function cacheClosedLoop(
  pipeline: number,
  operations: number,
  generators: readonly number[] = [],
  inClusterOnly = false,
): Workload {
  const settings = closedCache(pipeline, operations);
  const id = `cache-p${pipeline}`;
  const reference = (where: "host" | "in-cluster"): BenchPath => ({
    id: `valkey-benchmark-${where}`,
    description: where === "host" ? "valkey-benchmark, host -> NodePort" : "valkey-benchmark as a Job -> Service",
    unit: "ops/s",
    run: (context, label) =>
      verifiedRun(
        context,
        label,
        () => settings.maxOperations,
        async () => {
          const result =
            where === "host"
              ? await benchmarkFromHost(context.image, settings, context.address.port, "get", context.credentials)
              : await benchmarkInCluster(
                  context.cluster,
                  context.release.namespace,
                  context.image,
                  context.release.fullname,
                  settings,
                  "get",
                  context.credentials,
                );
          // valkey-benchmark runs its connections on one thread.
          return {
            sample: fromReference(result),
            clientCpuSeconds: result.cpuSeconds,
            wallSeconds: result.wallSeconds,
            threads: 1,
          };
        },
      ),
  });
  const workload: Workload = {
    id,
    name: `Cache, closed loop, pipeline ${pipeline}: GET over ${settings.keySpace} preloaded ${settings.valueBytes}-byte values (valkey-benchmark's key names)`,
    latency: pipeline > 1 ? `round trip of a ${pipeline}-command pipeline` : "round trip of one command",
    settings: { ...settings, threads: THREADS },
    prepare: (context) => preloadKeySpace(context.address, context.credentials, settings.keySpace, settings.valueBytes),
    paths: [
      ...(inClusterOnly
        ? []
        : [generatorPath(settings, THREADS), generatorPath(settings, THREADS, "lean"), reference("host")]),
      reference("in-cluster"),
      ...generators.map((n) => inClusterPath(settings, n)),
    ],
    ratios: [
      {
        name: `lean-vs-valkey-benchmark-p${pipeline}`,
        numerator: `${id}/lean-host`,
        denominator: `${id}/valkey-benchmark-host`,
        description: `Lean generator / valkey-benchmark throughput on the same path and the same verified work, pipeline ${pipeline}`,
      },
      {
        name: `generator-vs-valkey-benchmark-p${pipeline}`,
        numerator: `${id}/generator-host`,
        denominator: `${id}/valkey-benchmark-host`,
        description: `Generator / valkey-benchmark throughput on the same path and the same verified work, pipeline ${pipeline}`,
      },
      {
        name: `host-path-vs-in-cluster-p${pipeline}`,
        numerator: `${id}/valkey-benchmark-host`,
        denominator: `${id}/valkey-benchmark-in-cluster`,
        description: `Host path / in-cluster throughput (the cost of reaching the cluster from outside), pipeline ${pipeline}`,
      },
      ...generators
        .filter((n) => n > 1 && generators.includes(1))
        .map((n) => ({
          name: `cluster-${n}-vs-1-p${pipeline}`,
          numerator: `${id}/lean-cluster-${n}`,
          denominator: `${id}/lean-cluster-1`,
          description: `${n} in-cluster generators / 1 (total throughput, same verified work), pipeline ${pipeline}`,
        })),
      ...(generators.includes(1)
        ? [
            {
              name: `cluster-1-vs-valkey-benchmark-in-cluster-p${pipeline}`,
              numerator: `${id}/lean-cluster-1`,
              denominator: `${id}/valkey-benchmark-in-cluster`,
              description: `One in-cluster lean generator / valkey-benchmark as a Job (same path, same verified work), pipeline ${pipeline}`,
            },
          ]
        : []),
    ],
  };
  // Ratios only between paths this run measures (the in-cluster-only run has no host paths).
  const measured = new Set(workload.paths.map((p) => `${id}/${p.id}`));
  workload.ratios = workload.ratios?.filter((r) => measured.has(r.numerator) && measured.has(r.denominator));
  return workload;
}

function cacheOpenLoop(rate: number): Workload {
  const settings = openCacheSettings(rate);
  return {
    id: "cache-open",
    name: `Cache, open loop at ${rate} commands/s: 90 % GET, 10 % SET, zipfian keys`,
    latency: "from each command's intended send time (coordinated omission corrected)",
    settings: { ...settings, threads: OPEN_LOOP_THREADS },
    prepare: (context) => preloadKeySpace(context.address, context.credentials, settings.keySpace, settings.valueBytes),
    paths: [generatorPath(settings, OPEN_LOOP_THREADS)],
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
        run: async (context, label) => {
          if (!service) throw new Error("the session service did not start");
          const running = service;
          // Every request reads or renews a preloaded session: no miss either.
          return verifiedRun(
            context,
            label,
            (s) => s.opsPerSecond * settings.maxSeconds,
            async () => {
              const cpu = processCpuSeconds();
              const started = performance.now();
              const load = await runSessionLoad(
                running,
                ids,
                settings,
                progressLine(label, { total: settings.maxRequests, seconds: settings.maxSeconds, unit: "requests" }),
              );
              const wallSeconds = (performance.now() - started) / 1000;
              return {
                sample: sample(load.requestsPerSecond, load.latencyMicros, load.errors),
                clientCpuSeconds: processCpuSeconds() - cpu,
                wallSeconds,
                threads: 1,
              };
            },
          );
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
          const cpu = processCpuSeconds();
          const result = await runFanOut(
            context.address,
            context.credentials,
            settings,
            progressLine(label, { total: settings.maxMessages, seconds: settings.maxSeconds, unit: "messages" }),
          );
          if (result.lost > 0) throw new Error(`${label}: ${result.lost} deliveries lost`);
          if (Object.keys(result.errors).length > 0)
            throw new Error(`${label}: errors: ${JSON.stringify(result.errors)}`);
          return {
            ...sample(result.deliveriesPerSecond, result.latencyMicros, result.errors),
            clientCpuPerMillion: perMillion(processCpuSeconds() - cpu, result.delivered),
          };
        },
      },
    ],
  };
}

/** Every workload of the release benchmark, in the order they run. */
export function benchWorkloads(options: WorkloadOptions): Workload[] {
  const tlsFits = (PROFILE_ENVIRONMENTS.tls ?? []).includes(options.env ?? "dev-01");
  const closed = [
    cacheClosedLoop(16, 200_000, options.generators, options.inClusterOnly),
    cacheClosedLoop(1, 60_000, options.generators, options.inClusterOnly),
  ];
  if (options.inClusterOnly && (options.generators ?? []).length === 0)
    throw new Error(
      "a cluster of your own is benchmarked from inside it: VALKEY_BENCH_GENERATORS=none leaves nothing to run there",
    );
  const all = options.inClusterOnly
    ? closed
    : [
        ...closed,
        cacheOpenLoop(options.openLoopRate),
        sessions(),
        realtime(),
        ...disruptionWorkloads(options.openLoopRate),
        persistenceWorkload(),
        ...(tlsFits ? [tlsWorkload()] : []),
      ];
  if (!options.only) return all;
  const unknown = options.only.filter((id) => !all.some((w) => w.id === id));
  if (unknown.length > 0)
    throw new Error(
      `VALKEY_BENCH_WORKLOADS names ${unknown.join(", ")}, not a workload of ${options.env ?? "dev-01"}${options.inClusterOnly ? " on a cluster of your own" : ""} (workloads: ${all.map((w) => w.id).join(", ")})`,
    );
  return all.filter((w) => options.only?.includes(w.id));
}
