import type { RunSample } from "../report/bench.ts";
import {
  counterDelta,
  isClientBound,
  perMillion,
  processCpuSeconds,
  type ServerCounters,
  serverCounters,
} from "./accounting.ts";
import type { Percentiles } from "./histogram.ts";
import { type LoadEngine, type LoadResult, type LoadSettings, runLoad } from "./load.ts";
import { progressLine } from "./progress.ts";
import type { ReferenceResult } from "./reference.ts";
import type { BenchContext } from "./workload.ts";

/** Generator threads for the closed loop (this machine kind has 2 cores, shared with the cluster). */
export const THREADS = 2;
/**
 * The open loop keeps its schedule by yielding to I/O between sends instead of 1 ms
 * timers; one such thread perturbs a 2-core machine less than two (measured: p99 6 ms
 * with one thread, 67-180 ms with two, at 10,000 commands/s).
 */
export const OPEN_LOOP_THREADS = 1;
/** Every cache path reads this many preloaded keys of this size. */
export const KEY_SPACE = 10_000;
export const VALUE_BYTES = 256;

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

export function fromLoad(load: LoadResult): RunSample {
  return {
    ...sample(load.opsPerSecond, load.latencyMicros, load.errors),
    sendLagP99Millis: load.sendLagMicros ? load.sendLagMicros.p99 / 1000 : undefined,
  };
}

export function fromReference(result: ReferenceResult): RunSample {
  return {
    opsPerSecond: result.opsPerSecond,
    p50Millis: result.latencyMillis.p50,
    p99Millis: result.latencyMillis.p99,
  };
}

/** Maximum throughput, GET over the preloaded key space: equal settings for the generator and valkey-benchmark. */
export function closedCache(pipeline: number, maxOperations: number): LoadSettings {
  return {
    mode: "closed",
    connections: 8,
    pipeline,
    keySpace: KEY_SPACE,
    distribution: "uniform",
    valueBytes: VALUE_BYTES,
    readRatio: 1,
    maxOperations,
    maxSeconds: 30,
  };
}

/** The cache as applications use it: 90 % GET, 10 % SET, hot keys, at a fixed request rate. */
export function openCacheSettings(rate: number, seconds = 10): LoadSettings {
  return {
    ...closedCache(1, rate * seconds),
    mode: "open",
    rate,
    connections: 16,
    distribution: "zipfian",
    readRatio: 0.9,
    maxSeconds: seconds,
  };
}

/**
 * Runs one sample of a cache path and checks its work on the primary: keyspace hits and
 * misses (INFO stats before and after), commands, and valkey-server's CPU. A cache
 * workload reads only preloaded keys, so one miss means the path did other work than the
 * others: an error. Fails too on any error the path's own client reported.
 */
export async function verifiedRun(
  context: BenchContext,
  label: string,
  operationsOf: (sample: RunSample) => number,
  run: () => Promise<{ sample: RunSample; clientCpuSeconds: number; wallSeconds: number; threads: number }>,
): Promise<RunSample> {
  const before: ServerCounters = await serverCounters(context.address, context.credentials);
  const { sample, clientCpuSeconds, wallSeconds, threads } = await run();
  const delta = counterDelta(before, await serverCounters(context.address, context.credentials));
  if (delta.misses > 0) {
    throw new Error(
      `${label}: ${delta.misses} keyspace misses on the primary (and ${delta.hits} hits): the path read keys the workload never preloaded`,
    );
  }
  if (sample.errors && Object.keys(sample.errors).length > 0) {
    throw new Error(`${label}: errors during the load: ${JSON.stringify(sample.errors)}`);
  }
  const operations = operationsOf(sample);
  return {
    ...sample,
    hits: delta.hits,
    misses: delta.misses,
    commands: delta.commands,
    bytesIn: delta.bytesIn,
    bytesOut: delta.bytesOut,
    clientCpuPerMillion: perMillion(clientCpuSeconds, operations),
    serverCpuPerMillion: perMillion(delta.cpuSeconds, delta.commands),
    clientBound: isClientBound(clientCpuSeconds, wallSeconds, threads),
  };
}

/**
 * One verified run of a generator (ioredis or lean) against the context's address: the
 * load, its client CPU, and the primary's hits, misses and CPU around it.
 */
export function generatorRun(
  context: BenchContext,
  label: string,
  settings: LoadSettings,
  threads: number,
  engine: LoadEngine = "ioredis",
): Promise<RunSample> {
  return verifiedRun(
    context,
    label,
    () => settings.maxOperations,
    async () => {
      const cpu = processCpuSeconds();
      const load = await runLoad(
        context.address,
        context.credentials,
        settings,
        threads,
        progressLine(label, { total: settings.maxOperations, seconds: settings.maxSeconds, unit: "ops" }),
        undefined,
        engine,
      );
      return {
        sample: fromLoad(load),
        clientCpuSeconds: processCpuSeconds() - cpu,
        wallSeconds: load.seconds,
        threads,
      };
    },
  );
}
