import { build, type Histogram } from "hdr-histogram-js";
import { errorKind } from "../valkey/index.ts";

/** Latency percentiles in the unit the histogram recorded (microseconds here). */
export interface Percentiles {
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

/** An HDR histogram of latencies in microseconds, 1 us to 60 s, 3 significant digits. */
export function latencyHistogram(): Histogram {
  return build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
}

/** Records a duration given in milliseconds (never below 1 us). */
export function recordMillis(histogram: Histogram, millis: number): void {
  histogram.recordValue(Math.max(1, Math.round(millis * 1000)));
}

export function percentiles(histogram: Histogram): Percentiles {
  return {
    p50: histogram.getValueAtPercentile(50),
    p90: histogram.getValueAtPercentile(90),
    p99: histogram.getValueAtPercentile(99),
    p999: histogram.getValueAtPercentile(99.9),
    max: histogram.maxValue,
  };
}

/** Counts `n` failures under the error's kind (NOREPLICAS, TIMEOUT, CONNECTION, ...). */
export function countError(errors: Record<string, number>, error: unknown, n = 1): void {
  const kind = errorKind(error);
  errors[kind] = (errors[kind] ?? 0) + n;
}
