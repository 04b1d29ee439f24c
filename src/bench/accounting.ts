import { type Credentials, connect, type Endpoint, parseInfo } from "../valkey/index.ts";

/**
 * The key space every path of the cache workloads uses: valkey-benchmark's own naming
 * (`-r N` reads `key:` + a 12-digit zero-padded number below N), so that the generator and
 * the reference read the same keys, all of them preloaded.
 */
export function benchKey(index: number): string {
  return `key:${String(index).padStart(12, "0")}`;
}

/** Writes every key of the key space once (values of `valueBytes`), so that reads hit. */
export async function preloadKeySpace(
  endpoint: Endpoint,
  credentials: Credentials,
  keySpace: number,
  valueBytes: number,
): Promise<void> {
  const client = connect(endpoint, credentials, "bench-preload");
  await client.connect();
  try {
    const value = "x".repeat(valueBytes);
    for (let start = 0; start < keySpace; start += 1000) {
      const pipeline = client.pipeline();
      for (let i = start; i < Math.min(keySpace, start + 1000); i++) pipeline.set(benchKey(i), value);
      const results = await pipeline.exec();
      const failed = results?.find(([error]) => error);
      if (failed) throw new Error(`preloading the key space failed: ${failed[0]?.message}`);
    }
  } finally {
    client.disconnect();
  }
}

/** The primary's view of a run: keyspace hits and misses, commands, and valkey-server's CPU. */
export interface ServerCounters {
  hits: number;
  misses: number;
  commands: number;
  /** Bytes valkey-server read from and wrote to its clients (INFO stats total_net_input_bytes, total_net_output_bytes). */
  bytesIn: number;
  bytesOut: number;
  /** CPU seconds valkey-server used so far (user + system), from INFO cpu. */
  cpuSeconds: number;
}

export async function serverCounters(endpoint: Endpoint, credentials: Credentials): Promise<ServerCounters> {
  const client = connect(endpoint, credentials, "bench-counters");
  await client.connect();
  try {
    const info = parseInfo(await client.info("all"));
    return {
      hits: Number(info.keyspace_hits),
      misses: Number(info.keyspace_misses),
      commands: Number(info.total_commands_processed),
      bytesIn: Number(info.total_net_input_bytes),
      bytesOut: Number(info.total_net_output_bytes),
      cpuSeconds: Number(info.used_cpu_user) + Number(info.used_cpu_sys),
    };
  } finally {
    client.disconnect();
  }
}

export function counterDelta(before: ServerCounters, after: ServerCounters): ServerCounters {
  return {
    hits: after.hits - before.hits,
    misses: after.misses - before.misses,
    commands: after.commands - before.commands,
    bytesIn: after.bytesIn - before.bytesIn,
    bytesOut: after.bytesOut - before.bytesOut,
    cpuSeconds: Number((after.cpuSeconds - before.cpuSeconds).toFixed(3)),
  };
}

/** The generator's own CPU (this process, every thread), for CPU seconds per million operations. */
export function processCpuSeconds(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}

/** CPU seconds per million operations, 3 decimals. */
export function perMillion(cpuSeconds: number, operations: number): number {
  return operations > 0 ? Number(((cpuSeconds / operations) * 1e6).toFixed(3)) : Number.NaN;
}

/**
 * A run is client-bound when the generator kept its threads busy (at least 85 % of the
 * CPU they could use): its throughput is then the generator's limit, not the server's.
 */
export function isClientBound(clientCpuSeconds: number, wallSeconds: number, threads: number): boolean {
  return wallSeconds > 0 && clientCpuSeconds / wallSeconds >= 0.85 * threads;
}
