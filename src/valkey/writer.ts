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

/**
 * What became of one write:
 * - `acknowledged`: the server answered OK (then `replicas` says how many confirmed it through WAIT);
 * - `refused`: the server answered an error (NOREPLICAS, READONLY, ...): not applied;
 * - `unknown`: sent, but the connection failed or timed out before an answer: it may or may not be applied;
 * - `unsent`: no connection could be made: not applied.
 */
export type WriteOutcome = "acknowledged" | "refused" | "unknown" | "unsent";

export interface WriteRecord {
  key: string;
  /** ms since the writer started, when the write was sent. */
  at: number;
  outcome: WriteOutcome;
  /** ms since the writer started, when its answer (or failure) arrived, WAIT included. */
  answeredAt: number;
  /** ms since the writer started, when the server acknowledged the SET itself (before WAIT). */
  okAt?: number;
  /** Replicas that confirmed it through WAIT (0 when not waited for or not acknowledged). */
  replicas: number;
  error?: string;
}

export interface WriterReport {
  attempted: number;
  acknowledged: number;
  /** Acknowledged and confirmed by WAIT on at least one replica. */
  confirmed: number;
  refused: number;
  unknown: number;
  unsent: number;
  /** Failures by kind (NOREPLICAS, CONNECTION, TIMEOUT, ...). */
  errors: Record<string, number>;
  /** ms the writer ran. */
  durationMs: number;
  /** Epoch ms when the writer started: records' `at` and `answeredAt` count from here. */
  startedAtEpochMs: number;
  /**
   * Longest stretch without an acknowledged write, in seconds, counting from the start and
   * up to the stop: writes that never resume show up as a trailing gap.
   */
  longestOutageSeconds: number;
  records: WriteRecord[];
}

/**
 * Writes unique keys one at a time against the primary and records what became of each,
 * so a test can later compare the acknowledged writes with what survived. Reconnects
 * (through the same endpoint) after any failure.
 */
export class AcknowledgedWriter {
  private readonly endpoint: Endpoint;
  private readonly credentials: Credentials;
  private readonly options: WriterOptions;
  private readonly records: WriteRecord[] = [];
  private stopped = false;
  private running?: Promise<void>;
  private started = 0;
  private startedAtEpochMs = 0;
  private finished = 0;

  constructor(endpoint: Endpoint, credentials: Credentials, options: WriterOptions) {
    this.endpoint = endpoint;
    this.credentials = credentials;
    this.options = options;
  }

  start(): this {
    this.started = performance.now();
    this.startedAtEpochMs = Date.now();
    this.running = this.loop();
    return this;
  }

  /** ms since the writer started: the clock of the records, for marking events on the same timeline. */
  now(): number {
    return performance.now() - this.started;
  }

  private async loop(): Promise<void> {
    const deadline = this.started + this.options.maxSeconds * 1000;
    let client: Redis | undefined;
    for (let n = 0; n < this.options.maxWrites && !this.stopped && performance.now() < deadline; n++) {
      const key = `${this.options.prefix}:${n}`;
      const record: WriteRecord = { key, at: this.now(), outcome: "unsent", answeredAt: 0, replicas: 0 };
      let sent = false;
      try {
        if (!client) {
          client = connect(this.endpoint, this.credentials, "acknowledged-writer");
          await client.connect();
        }
        sent = true;
        const reply = await client.set(key, String(n));
        record.outcome = reply === "OK" ? "acknowledged" : "refused";
        if (record.outcome === "acknowledged") record.okAt = this.now();
        if (record.outcome === "acknowledged" && this.options.waitReplicas > 0) {
          // A failure of WAIT does not undo the acknowledged write: it stays acknowledged, unconfirmed.
          record.replicas = await client
            .wait(this.options.waitReplicas, this.options.waitTimeoutMs ?? 1000)
            .catch(() => 0);
        }
      } catch (error) {
        record.error = errorKind(error);
        const isReply = /^[A-Z]{3,}$/.test(record.error) && record.error !== "CONNECTION";
        record.outcome = !sent ? "unsent" : isReply ? "refused" : "unknown";
        if (!isReply) {
          client?.disconnect();
          client = undefined;
        }
      }
      record.answeredAt = this.now();
      this.records.push(record);
      await new Promise((resolve) => setTimeout(resolve, this.options.intervalMs ?? 50));
    }
    client?.disconnect();
    this.finished = this.now();
  }

  /**
   * Resolves once `count` writes sent after `afterMs` (writer clock) were acknowledged, or
   * after `timeoutMs`, with how many were: a caller asserts on the count, so a slow machine
   * waits longer instead of failing a fixed window.
   */
  async acknowledgedSince(afterMs: number, count: number, timeoutMs: number): Promise<number> {
    const deadline = performance.now() + timeoutMs;
    const acknowledged = () => acknowledgedAfter(this.records, afterMs);
    while (acknowledged() < count && performance.now() < deadline && this.running && !this.finished) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return acknowledged();
  }

  /** Stops the loop and returns what happened. */
  async stop(): Promise<WriterReport> {
    this.stopped = true;
    await this.running;
    return summarize(this.records, this.finished, this.startedAtEpochMs);
  }
}

export function summarize(records: WriteRecord[], durationMs: number, startedAtEpochMs = 0): WriterReport {
  const errors: Record<string, number> = {};
  let longest = 0;
  let lastSuccess = 0;
  for (const record of records) {
    if (record.error) errors[record.error] = (errors[record.error] ?? 0) + 1;
    if (record.outcome === "acknowledged") {
      longest = Math.max(longest, record.answeredAt - lastSuccess);
      lastSuccess = record.answeredAt;
    }
  }
  longest = Math.max(longest, durationMs - lastSuccess);
  const count = (outcome: WriteOutcome) => records.filter((r) => r.outcome === outcome).length;
  return {
    attempted: records.length,
    acknowledged: count("acknowledged"),
    confirmed: records.filter((r) => r.outcome === "acknowledged" && r.replicas > 0).length,
    refused: count("refused"),
    unknown: count("unknown"),
    unsent: count("unsent"),
    errors,
    durationMs: Math.round(durationMs),
    startedAtEpochMs,
    longestOutageSeconds: Number((longest / 1000).toFixed(2)),
    records,
  };
}

/** Acknowledged writes sent after `afterMs` (writer clock), of a report or a running writer's records: proof that writes resumed. */
export function acknowledgedAfter(from: WriterReport | WriteRecord[], afterMs: number): number {
  const records = Array.isArray(from) ? from : from.records;
  return records.filter((r) => r.outcome === "acknowledged" && r.at >= afterMs).length;
}
