import type { Redis } from "ioredis";
import { type Credentials, connect, type Endpoint, errorKind } from "./index.ts";

export interface WriterOptions {
  /** Keys are `${prefix}:${n}`. */
  prefix: string;
  /** After each acknowledged SET, `WAIT replicas timeoutMs`; 0 skips WAIT. */
  waitReplicas: number;
  waitTimeoutMs?: number;
  /** Pause between writes. */
  intervalMs?: number;
  /** Hard bounds: the writer stops by itself at whichever comes first. */
  maxWrites: number;
  maxSeconds: number;
}

export interface WriteRecord {
  key: string;
  /** ms since the writer started */
  at: number;
  /** The server answered OK to the SET. */
  acknowledged: boolean;
  /** Replicas that confirmed it through WAIT (0 when not waited for). */
  replicated: number;
  error?: string;
}

export interface WriterReport {
  attempted: number;
  acknowledged: number;
  replicated: number;
  errors: Record<string, number>;
  /** Longest stretch without an acknowledged write, in seconds (write unavailability). */
  longestOutageSeconds: number;
  records: WriteRecord[];
}

/**
 * Writes unique keys one at a time against the primary and records what the server
 * acknowledged, so a test can later compare acknowledged writes with what survived.
 * Reconnects (through the same endpoint) after any failure.
 */
export class AcknowledgedWriter {
  private readonly endpoint: Endpoint;
  private readonly credentials: Credentials;
  private readonly options: WriterOptions;
  private readonly records: WriteRecord[] = [];
  private stopped = false;
  private running?: Promise<void>;

  constructor(endpoint: Endpoint, credentials: Credentials, options: WriterOptions) {
    this.endpoint = endpoint;
    this.credentials = credentials;
    this.options = options;
  }

  start(): this {
    this.running = this.loop();
    return this;
  }

  private async loop(): Promise<void> {
    const started = performance.now();
    const deadline = started + this.options.maxSeconds * 1000;
    let client: Redis | undefined;
    for (let n = 0; n < this.options.maxWrites && !this.stopped && performance.now() < deadline; n++) {
      const key = `${this.options.prefix}:${n}`;
      const record: WriteRecord = { key, at: performance.now() - started, acknowledged: false, replicated: 0 };
      try {
        if (!client) {
          client = connect(this.endpoint, this.credentials, "acknowledged-writer");
          await client.connect();
        }
        record.acknowledged = (await client.set(key, String(n))) === "OK";
        if (record.acknowledged && this.options.waitReplicas > 0) {
          record.replicated = await client.wait(this.options.waitReplicas, this.options.waitTimeoutMs ?? 1000);
        }
      } catch (error) {
        record.error = errorKind(error);
        client?.disconnect();
        client = undefined;
      }
      this.records.push(record);
      await new Promise((resolve) => setTimeout(resolve, this.options.intervalMs ?? 50));
    }
    client?.disconnect();
  }

  /** Stops the loop and returns what happened. */
  async stop(): Promise<WriterReport> {
    this.stopped = true;
    await this.running;
    return summarize(this.records);
  }
}

export function summarize(records: WriteRecord[]): WriterReport {
  const errors: Record<string, number> = {};
  let longest = 0;
  let lastSuccess: number | undefined;
  for (const record of records) {
    if (record.error) errors[record.error] = (errors[record.error] ?? 0) + 1;
    if (record.acknowledged) {
      if (lastSuccess !== undefined) longest = Math.max(longest, record.at - lastSuccess);
      lastSuccess = record.at;
    }
  }
  return {
    attempted: records.length,
    acknowledged: records.filter((r) => r.acknowledged).length,
    replicated: records.filter((r) => r.replicated > 0).length,
    errors,
    longestOutageSeconds: Number((longest / 1000).toFixed(2)),
    records,
  };
}

/** Which acknowledged keys are missing now (read back through `client`). */
export async function missingAcknowledged(client: Redis, records: WriteRecord[], onlyReplicated: boolean) {
  const promised = records.filter((r) => r.acknowledged && (!onlyReplicated || r.replicated > 0));
  const missing: string[] = [];
  for (let i = 0; i < promised.length; i += 500) {
    const batch = promised.slice(i, i + 500);
    const values = await client.mget(batch.map((r) => r.key));
    values.forEach((value, j) => {
      if (value === null) missing.push(batch[j]?.key as string);
    });
  }
  return { promised: promised.length, missing };
}
