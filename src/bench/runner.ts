import { type PathResult, type RunSample, summarisePath } from "../report/bench.ts";
import type { BenchContext, Workload } from "./workload.ts";

/**
 * Runs a workload: its preparation, then `runs` rounds of every path (round i of each path
 * before round i+1, so a drift of the machine affects every path alike), then its finish.
 * Returns each path's medians and runs.
 */
export async function runWorkload(context: BenchContext, workload: Workload): Promise<PathResult[]> {
  const samples = new Map<string, RunSample[]>(workload.paths.map((path) => [path.id, []]));
  try {
    await workload.prepare?.(context);
    const runs = workload.runs ?? context.runs;
    for (let round = 1; round <= runs; round++) {
      for (const path of workload.paths) {
        const label = `${workload.id}/${path.id} run ${round}/${runs}`;
        const result = await path.run(context, label);
        samples.get(path.id)?.push(result);
        context.log(
          `[bench] ${label}: ${Math.round(result.opsPerSecond)} ${path.unit}, p50 ${result.p50Millis} ms, p99 ${result.p99Millis} ms`,
        );
      }
    }
  } finally {
    await workload.finish?.();
  }
  return workload.paths.map((path) =>
    summarisePath(workload.id, path.id, path.description, path.unit, samples.get(path.id) ?? []),
  );
}
