import { encodeIntoCompressedBase64, type Histogram } from "hdr-histogram-js";
import { describe, expect, test } from "vitest";
import { closedCache } from "../../src/bench/common.ts";
import { latencyHistogram, percentiles } from "../../src/bench/histogram.ts";
import { combineGenerators, type GeneratorResult, splitLoad } from "../../src/bench/in-cluster.ts";
import { type LoadSettings, mergeHistograms } from "../../src/bench/load.ts";

/** Latencies in microseconds with a long tail, from a fixed seed (a run is repeatable). */
function samples(count: number, seed = 7): number[] {
  let state = seed;
  const next = () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
  return Array.from({ length: count }, () => Math.round(100 + 200 * next() + (next() < 0.01 ? 50_000 * next() : 0)));
}

function encoded(values: readonly number[]): string {
  const histogram = latencyHistogram();
  for (const value of values) histogram.recordValue(value);
  const text = encodeIntoCompressedBase64(histogram);
  histogram.destroy();
  return text;
}

describe("in-cluster generators", () => {
  test("merged histograms of the generators equal one histogram of all their samples", () => {
    const all = samples(40_000);
    const whole = latencyHistogram();
    for (const value of all) whole.recordValue(value);
    // Four generators with shares of different sizes and different latencies.
    const cuts = [0, 5_000, 17_000, 31_000, all.length];
    const parts = cuts.slice(1).map((end, i) => encoded(all.slice(cuts[i], end)));
    const merged = mergeHistograms(parts);
    expect(merged.totalCount).toBe(all.length);
    // Each generator sends its histogram encoded (bucket counts): the merge equals one
    // histogram of every sample sent the same way, maximum included...
    const single = mergeHistograms([encoded(all)]);
    expect(percentiles(merged)).toEqual(percentiles(single));
    // ...and every percentile of the in-memory one; its maximum within the histogram's 3 digits.
    const { max, ...rest } = percentiles(merged);
    const { max: wholeMax, ...wholeRest } = percentiles(whole);
    expect(rest).toEqual(wholeRest);
    expect(Math.abs(max - wholeMax) / wholeMax).toBeLessThan(0.001);
    single.destroy();
    merged.destroy();
    whole.destroy();
  });

  test("averaging the generators' percentiles would not give the merged ones (why the merge is exact)", () => {
    const fast = samples(10_000, 1);
    const slow = samples(1_000, 2).map((v) => v * 20);
    const [merged, fastOnly, slowOnly] = [[fast, slow], [fast], [slow]].map((parts) =>
      mergeHistograms(parts.map(encoded)),
    ) as [Histogram, Histogram, Histogram];
    const averaged = (percentiles(fastOnly).p99 + percentiles(slowOnly).p99) / 2;
    expect(Math.abs(percentiles(merged).p99 - averaged) / averaged).toBeGreaterThan(0.2);
    for (const histogram of [merged, fastOnly, slowOnly]) histogram.destroy();
  });

  test("a load is split into shares of connections and operations that add up to it", () => {
    const settings: LoadSettings = closedCache(16, 200_000);
    const shares = splitLoad(settings, 3);
    expect(shares.map((s) => s.connections)).toEqual([3, 3, 2]);
    expect(shares.map((s) => s.maxOperations)).toEqual([66_667, 66_667, 66_666]);
    expect(() => splitLoad(settings, 9)).toThrow(/generators=9 is not valid: give 1 to the load's connections \(8\)/);
    expect(() => splitLoad(settings, 0)).toThrow(/generators=0/);
  });

  test("total throughput counts every operation over the common window, from the first start to the last end", () => {
    const part = (index: number, startedAtEpochMs: number, seconds: number, operations: number): GeneratorResult => ({
      index,
      node: `agent-${index}`,
      operations,
      seconds,
      startedAtEpochMs,
      histogram: encoded(samples(100, index + 3)),
      errors: index === 1 ? { TIMEOUT: 2 } : {},
      cpuSeconds: seconds * (index === 0 ? 0.95 : 0.5),
    });
    const load = combineGenerators([part(1, 1_000_200, 1.8, 90_000), part(0, 1_000_000, 2, 110_000)]);
    expect(load.windowSeconds).toBe(2);
    expect(load.result.operations).toBe(200_000);
    expect(load.result.opsPerSecond).toBe(100_000);
    expect(load.result.errors).toEqual({ TIMEOUT: 2 });
    expect(load.generators.map((g) => [g.index, g.opsPerSecond, g.clientBound])).toEqual([
      [0, 55_000, true],
      [1, 50_000, false],
    ]);
  });
});
