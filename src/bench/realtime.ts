import type { Redis } from "ioredis";
import { type Credentials, connect, type Endpoint } from "../valkey/index.ts";
import { countError, latencyHistogram, type Percentiles, percentiles } from "./histogram.ts";

/**
 * The real-time use of Valkey: one publisher sends events on a channel at a fixed rate
 * (open loop) and every subscriber receives each of them. Each message carries its send
 * time, so the subscriber measures delivery latency end to end (publisher -> Valkey ->
 * subscriber, through the same path as every other load).
 */
export interface FanOutSettings {
  subscribers: number;
  /** Messages per second the publisher sends. */
  rate: number;
  messageBytes: number;
  maxMessages: number;
  maxSeconds: number;
}

export interface FanOutResult {
  published: number;
  /** Should be published x subscribers; the rest were lost. */
  delivered: number;
  lost: number;
  deliveriesPerSecond: number;
  latencyMicros: Percentiles;
  errors: Record<string, number>;
}

export function validateFanOutSettings(settings: FanOutSettings): void {
  for (const field of ["subscribers", "rate", "messageBytes", "maxMessages"] as const) {
    const value = settings[field];
    if (!Number.isInteger(value) || value < 1) {
      throw new Error(`fan-out setting ${field}=${JSON.stringify(value)} is not valid: give a whole number >= 1`);
    }
  }
  if (!(settings.maxSeconds > 0 && settings.maxSeconds <= 600)) {
    throw new Error(`fan-out setting maxSeconds=${settings.maxSeconds} is not valid: give 0 < seconds <= 600`);
  }
  if (settings.messageBytes < 20) {
    throw new Error(`fan-out setting messageBytes=${settings.messageBytes} is not valid: give >= 20 (the send time)`);
  }
}

export async function runFanOut(
  endpoint: Endpoint,
  credentials: Credentials,
  settings: FanOutSettings,
  progress: (published: number) => void = () => {},
): Promise<FanOutResult> {
  validateFanOutSettings(settings);
  const channel = `bench:events:${Date.now().toString(36)}`;
  const histogram = latencyHistogram();
  const errors: Record<string, number> = {};
  let delivered = 0;
  let published = 0;
  const subscribers: Redis[] = [];
  const publisher = connect(endpoint, credentials, "bench-publisher");
  try {
    for (let i = 0; i < settings.subscribers; i++) {
      const subscriber = connect(endpoint, credentials, `bench-subscriber-${i}`);
      await subscriber.connect();
      subscriber.on("message", (_channel: string, message: string) => {
        const sentMicros = Number(message.slice(0, message.indexOf(" ")));
        histogram.recordValue(Math.max(1, Math.round(nowMicros() - sentMicros)));
        delivered++;
      });
      await subscriber.subscribe(channel);
      subscribers.push(subscriber);
    }
    await publisher.connect();
    const padding = "x".repeat(settings.messageBytes);
    const interval = 1000 / settings.rate;
    const started = performance.now();
    const deadline = started + settings.maxSeconds * 1000;
    const ticker = setInterval(() => progress(published), 1000);
    const sends: Promise<unknown>[] = [];
    try {
      while (published < settings.maxMessages && performance.now() < deadline) {
        const now = performance.now();
        while (published < settings.maxMessages && started + published * interval <= now) {
          const body = `${Math.round(nowMicros())} `;
          sends.push(
            publisher.publish(channel, body + padding.slice(body.length)).catch((error: unknown) => {
              countError(errors, error);
            }),
          );
          published++;
        }
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, started + published * interval - now)));
      }
      await Promise.all(sends);
    } finally {
      clearInterval(ticker);
    }
    const seconds = (performance.now() - started) / 1000;
    // Let the last deliveries arrive (bounded).
    const expected = published * settings.subscribers;
    const settleUntil = performance.now() + 5_000;
    while (delivered < expected && performance.now() < settleUntil) await new Promise((r) => setTimeout(r, 50));
    const result: FanOutResult = {
      published,
      delivered,
      lost: expected - delivered,
      deliveriesPerSecond: Math.round(delivered / seconds),
      latencyMicros: percentiles(histogram),
      errors,
    };
    return result;
  } finally {
    histogram.destroy();
    publisher.disconnect();
    for (const subscriber of subscribers) subscriber.disconnect();
  }
}

function nowMicros(): number {
  return (performance.timeOrigin + performance.now()) * 1000;
}
