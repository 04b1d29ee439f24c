import { Worker } from "node:worker_threads";
import { decodeFromCompressedBase64, encodeIntoCompressedBase64, type Histogram } from "hdr-histogram-js";
import type { Redis } from "ioredis";
import { type Credentials, connect, type Endpoint } from "../valkey/index.ts";
import { benchKey } from "./accounting.ts";
import { countError, latencyHistogram, type Percentiles, percentiles, recordMillis } from "./histogram.ts";
import { runLeanShare } from "./lean.ts";

/**
 * A load on Valkey. Closed loop: every connection keeps one pipeline in flight, as fast as
 * the path allows (maximum throughput). Open loop: pipelines are sent on a fixed schedule
 * of `rate` commands per second whatever the replies do, and latency is measured from
 * each pipeline's intended send time, so a stall shows in the percentiles instead of
 * slowing the load down (no coordinated omission).
 */
export interface LoadSettings {
  mode: "closed" | "open";
  /** Commands per second in total (open loop only). */
  rate?: number;
  connections: number;
  /** Commands sent together per round trip on a connection. */
  pipeline: number;
  /** Distinct keys, named as valkey-benchmark names them (`key:` + 12 digits, see accounting.ts). */
  keySpace: number;
  /** uniform, or zipfian (skewed towards low key numbers: a hot key set). */
  distribution: "uniform" | "zipfian";
  valueBytes: number;
  /** Share of GETs, 0..1; the rest are SETs. */
  readRatio: number;
  /** Stop after this many commands in total... */
  maxOperations: number;
  /** ...or after this many seconds, whichever comes first. */
  maxSeconds: number;
  /** Connections reconnect after a failure (loads through a disruption); commands fail fast meanwhile. */
  reconnect?: boolean;
  /** Record throughput, latency and errors per second (one thread only). */
  timeline?: boolean;
}

/** One second of a load with a timeline. */
export interface LoadSecond {
  second: number;
  operations: number;
  errors: number;
  p50Millis: number;
  p99Millis: number;
}

export interface LoadResult {
  operations: number;
  seconds: number;
  opsPerSecond: number;
  /** Latency of one pipeline, microseconds: its round trip (closed), or from its intended send time (open). */
  latencyMicros: Percentiles;
  /**
   * Open loop: how late the generator sent pipelines against their schedule. Latency up to
   * this much is the generator's own delay (a busy machine), not Valkey's.
   */
  sendLagMicros?: { p50: number; p99: number; max: number };
  errors: Record<string, number>;
  timeline?: LoadSecond[];
}

/** Checks settings before any load starts; the message names the field and the fix. */
export function validateLoadSettings(settings: LoadSettings): void {
  const wholeAtLeast = (field: keyof LoadSettings, min: number) => {
    const value = settings[field];
    if (typeof value !== "number" || !Number.isInteger(value) || value < min) {
      throw new Error(`load setting ${field}=${JSON.stringify(value)} is not valid: give a whole number >= ${min}`);
    }
  };
  wholeAtLeast("connections", 1);
  wholeAtLeast("pipeline", 1);
  wholeAtLeast("keySpace", 1);
  wholeAtLeast("valueBytes", 1);
  wholeAtLeast("maxOperations", 1);
  if (!(settings.maxSeconds > 0 && settings.maxSeconds <= 600)) {
    throw new Error(`load setting maxSeconds=${settings.maxSeconds} is not valid: give 0 < seconds <= 600`);
  }
  if (!(settings.readRatio >= 0 && settings.readRatio <= 1)) {
    throw new Error(`load setting readRatio=${settings.readRatio} is not valid: give a share from 0 to 1`);
  }
  if (!["uniform", "zipfian"].includes(settings.distribution)) {
    throw new Error(`load setting distribution=${settings.distribution} is not valid: use uniform or zipfian`);
  }
  if (settings.mode !== "closed" && settings.mode !== "open") {
    throw new Error(`load setting mode=${JSON.stringify(settings.mode)} is not valid: use closed or open`);
  }
  if (settings.mode === "open" && !(Number.isFinite(settings.rate) && (settings.rate as number) >= 1)) {
    throw new Error(
      `load setting rate=${JSON.stringify(settings.rate)} is not valid: an open loop needs a rate >= 1 command per second`,
    );
  }
}

/** Key picker: uniform, or zipfian with exponent ~1 via inverse-CDF on a harmonic approximation. */
function keyPicker(settings: LoadSettings): () => number {
  if (settings.distribution === "uniform") return () => Math.floor(Math.random() * settings.keySpace);
  const n = settings.keySpace;
  const harmonic = Math.log(n) + 0.5772156649;
  return () => Math.min(n - 1, Math.floor(Math.exp(Math.random() * harmonic - 0.5772156649)));
}

/** What one share of the load measured (one thread's connections). */
export interface ShareResult {
  operations: number;
  /** From the first command to the last, connection set-up excluded. */
  seconds: number;
  /** HDR histogram of pipeline round trips in microseconds, compressed base64. */
  histogram: string;
  /** Open loop: HDR histogram of how late each pipeline left against its schedule (microseconds). */
  sendLag?: string;
  errors: Record<string, number>;
  timeline?: LoadSecond[];
  /** When the first command left (epoch ms; the lean generator): shares in several pods are lined up by it. */
  startedAtEpochMs?: number;
}

/** Share `i` of `total` split `n` ways: the first shares take the remainder, one each. */
export function splitEvenly(total: number, n: number, i: number): number {
  return Math.floor(total / n) + (i < total % n ? 1 : 0);
}

/** Which generator drives a load. */
export type LoadEngine = "ioredis" | "lean";

/** One thread's part of a load. */
export interface LoadShare {
  connections: number;
  maxOperations: number;
  /** Commands per second for this share (open loop). */
  rate: number;
}

/** Pipelines in flight per thread before an open loop waits (memory bound; the wait shows as latency). */
const MAX_IN_FLIGHT = 20_000;

/**
 * Runs one share of a load on this thread and reports the commands completed so far to
 * `progress` about once a second.
 */
export async function runShare(
  endpoint: Endpoint,
  credentials: Credentials,
  settings: LoadSettings,
  share: LoadShare,
  progress: (completed: number) => void = () => {},
  signal?: AbortSignal,
): Promise<ShareResult> {
  const histogram = latencyHistogram();
  const errors: Record<string, number> = {};
  const value = "x".repeat(settings.valueBytes);
  const pick = keyPicker(settings);
  // Per-command costs are what limits the generator: key strings made once, and replies
  // kept as Buffers (no UTF-8 decoding of values nobody reads).
  const keys = Array.from({ length: settings.keySpace }, (_, i) => benchKey(i));
  const clients: Redis[] = [];
  for (let i = 0; i < share.connections; i++) {
    const client = connect(endpoint, credentials, `bench-${i}`);
    if (settings.reconnect) {
      // Through a disruption: reconnect every 200 ms, and a stalled command fails after 2 s.
      Object.assign(client.options, { retryStrategy: () => 200, commandTimeout: 2_000 });
      // The disruption may already be under way: a first connect that fails is retried by
      // the client itself, and the commands sent meanwhile count as errors of the load.
      // Its connection errors are those commands' errors, not news worth a stack trace each.
      client.on("error", () => {});
      await client.connect().catch(() => {});
    } else {
      // No timer per command: the load's own bounds end it, and a timer per command costs
      // the generator a fifth of its throughput (measured).
      client.options.commandTimeout = undefined;
      await client.connect();
    }
    clients.push(client);
  }
  const seconds: { operations: number; errors: number; histogram: Histogram }[] = [];
  const second = (now: number) => {
    const index = Math.floor((now - started) / 1000);
    for (let i = seconds.length; i <= index; i++)
      seconds.push({ operations: 0, errors: 0, histogram: latencyHistogram() });
    return seconds[index] as (typeof seconds)[number];
  };
  let issued = 0;
  let completed = 0;
  const started = performance.now();
  const deadline = started + settings.maxSeconds * 1000;
  const ticker = setInterval(() => progress(completed), 1000);
  const isRead = () => settings.readRatio === 1 || Math.random() < settings.readRatio;
  /** Sends one pipeline; resolves when its replies are in, recording latency from `since`. */
  const send = async (client: Redis, since?: number) => {
    const batch = Math.min(settings.pipeline, share.maxOperations - issued);
    issued += batch;
    if (batch === 1) return sendOne(client, since);
    const pipeline = client.pipeline();
    for (let i = 0; i < batch; i++) {
      const key = keys[pick()] as string;
      if (isRead()) pipeline.getBuffer(key);
      else pipeline.set(key, value);
    }
    const sent = since ?? performance.now();
    try {
      const results = await pipeline.exec();
      for (const [error] of results ?? []) if (error) countError(errors, error, 1);
    } catch (error) {
      countError(errors, error, batch);
    }
    completed += batch;
    recordMillis(histogram, performance.now() - sent);
  };
  /** Without pipelining, a plain command: a Pipeline object for one command costs more than the command. */
  const sendOne = async (client: Redis, since?: number) => {
    const key = keys[pick()] as string;
    const sent = since ?? performance.now();
    let failed = false;
    try {
      if (isRead()) await client.getBuffer(key);
      else await client.set(key, value);
    } catch (error) {
      countError(errors, error, 1);
      failed = true;
    }
    completed += 1;
    const now = performance.now();
    recordMillis(histogram, now - sent);
    if (settings.timeline) {
      const bucket = second(now);
      bucket.operations += failed ? 0 : 1;
      bucket.errors += failed ? 1 : 0;
      if (!failed) recordMillis(bucket.histogram, now - sent);
    }
  };
  const more = () => !signal?.aborted && issued < share.maxOperations && performance.now() < deadline;
  let lag: Histogram | undefined;
  try {
    if (settings.mode === "closed") {
      await Promise.all(
        clients.map(async (client) => {
          while (more()) await send(client);
        }),
      );
    } else {
      // Pipeline k is due at started + k * interval, on connection k mod n. Every due
      // pipeline goes out at once; then the loop waits for the next one.
      const interval = (settings.pipeline / share.rate) * 1000;
      const inFlight = new Set<Promise<void>>();
      lag = latencyHistogram();
      let k = 0;
      while (more()) {
        const now = performance.now();
        while (more() && started + k * interval <= now && inFlight.size < MAX_IN_FLIGHT) {
          const intended = started + k * interval;
          recordMillis(lag, performance.now() - intended);
          const pending = send(clients[k % clients.length] as Redis, intended);
          inFlight.add(pending);
          void pending.finally(() => inFlight.delete(pending));
          k++;
        }
        const wait = started + k * interval - performance.now();
        if (inFlight.size >= MAX_IN_FLIGHT) await Promise.race(inFlight);
        // Timers fire a millisecond late at best: within 2 ms of the next send, only yield to I/O.
        else if (wait < 2) await new Promise((resolve) => setImmediate(resolve));
        else await new Promise((resolve) => setTimeout(resolve, wait - 1));
      }
      await Promise.all(inFlight);
    }
  } finally {
    clearInterval(ticker);
    for (const client of clients) client.disconnect();
  }
  const elapsed = (performance.now() - started) / 1000;
  const encoded = encodeIntoCompressedBase64(histogram);
  histogram.destroy();
  const sendLag = lag ? encodeIntoCompressedBase64(lag) : undefined;
  lag?.destroy();
  const timeline = settings.timeline
    ? seconds.map((bucket, i) => {
        const p = percentiles(bucket.histogram);
        bucket.histogram.destroy();
        return {
          second: i,
          operations: bucket.operations,
          errors: bucket.errors,
          p50Millis: p.p50 / 1000,
          p99Millis: p.p99 / 1000,
        };
      })
    : undefined;
  return { operations: completed, seconds: elapsed, histogram: encoded, sendLag, errors, timeline };
}

/**
 * Runs the load on `threads` worker threads (connections and operations split evenly;
 * one thread runs in this thread) and returns throughput, latency percentiles and
 * errors counted by kind.
 */
export async function runLoad(
  endpoint: Endpoint,
  credentials: Credentials,
  settings: LoadSettings,
  threads = Math.min(2, settings.connections),
  progress: (completed: number) => void = () => {},
  /** Ends the load early (one thread only): a load through an action of unknown length. */
  signal?: AbortSignal,
  /** ioredis (what applications use), or the lean generator (raw sockets, pre-encoded GETs: the client's limit). */
  engine: LoadEngine = "ioredis",
): Promise<LoadResult> {
  validateLoadSettings(settings);
  if (signal && threads !== 1) throw new Error(`a load with a stop signal needs one thread, got ${threads}`);
  if (engine === "lean" && (signal || settings.timeline || settings.reconnect))
    throw new Error("the lean generator runs plain closed loops: no stop signal, timeline or reconnect");
  if (settings.timeline && threads !== 1) throw new Error(`load setting timeline needs one thread, got ${threads}`);
  if (!Number.isInteger(threads) || threads < 1 || threads > settings.connections) {
    throw new Error(`load threads=${threads} is not valid: give 1 to connections (${settings.connections})`);
  }
  const split = (total: number, i: number) => splitEvenly(total, threads, i);
  const completedByThread = new Array<number>(threads).fill(0);
  const report = (i: number) => (completed: number) => {
    completedByThread[i] = completed;
    progress(completedByThread.reduce((a, b) => a + b, 0));
  };
  const shares = await Promise.all(
    Array.from({ length: threads }, (_, i) => {
      const share: LoadShare = {
        connections: split(settings.connections, i),
        maxOperations: split(settings.maxOperations, i),
        rate: (settings.rate ?? 0) / threads,
      };
      if (threads === 1)
        return engine === "lean"
          ? runLeanShare(endpoint, credentials, settings, share, report(i))
          : runShare(endpoint, credentials, settings, share, report(i), signal);
      return new Promise<ShareResult>((resolve, reject) => {
        const worker = new Worker(new URL("./load-worker.ts", import.meta.url), {
          workerData: { endpoint, credentials, settings, share, engine },
        });
        worker.on("message", (message: { completed?: number; result?: ShareResult }) => {
          if (message.result) resolve(message.result);
          else report(i)(message.completed ?? 0);
        });
        worker.once("error", reject);
        worker.once("exit", (code) => code !== 0 && reject(new Error(`load worker ${i} exited with ${code}`)));
      });
    }),
  );
  // The threads start within milliseconds of each other and run for seconds: the
  // longest share is the run's duration (thread start-up and connecting excluded).
  const seconds = Math.max(...shares.map((part) => part.seconds));
  return combineShares(shares, seconds);
}

/** The shares of one load added up: every operation and error, one histogram of all their samples, throughput over `seconds`. */
export function combineShares(shares: readonly ShareResult[], seconds: number): LoadResult {
  const histogram = mergeHistograms(shares.map((part) => part.histogram));
  const lag = shares.every((part) => part.sendLag)
    ? mergeHistograms(shares.map((part) => part.sendLag as string))
    : undefined;
  const errors: Record<string, number> = {};
  for (const part of shares) {
    for (const [kind, count] of Object.entries(part.errors)) errors[kind] = (errors[kind] ?? 0) + count;
  }
  const operations = shares.reduce((sum, part) => sum + part.operations, 0);
  const result: LoadResult = {
    operations,
    seconds: Number(seconds.toFixed(2)),
    opsPerSecond: Math.round(operations / seconds),
    latencyMicros: percentiles(histogram),
    errors,
    timeline: shares[0]?.timeline,
  };
  if (lag) {
    const { p50, p99, max } = percentiles(lag);
    result.sendLagMicros = { p50, p99, max };
    lag.destroy();
  }
  histogram.destroy();
  return result;
}

/**
 * One histogram of every share's samples: HDR histograms add bucket by bucket, so the
 * merged percentiles are those of all samples together (never an average of percentiles).
 */
export function mergeHistograms(encoded: readonly string[]): Histogram {
  const histogram = latencyHistogram();
  for (const part of encoded) {
    const decoded = decodeFromCompressedBase64(part);
    histogram.add(decoded);
    decoded.destroy();
  }
  return histogram;
}
