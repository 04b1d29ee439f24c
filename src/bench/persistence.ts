import { readProfile } from "../durability/profiles.ts";
import { persistenceProfiles } from "../environments.ts";
import { preloadKeySpace } from "./accounting.ts";
import { closedCache, generatorRun, THREADS } from "./common.ts";
import type { LoadSettings } from "./load.ts";
import type { BenchPath, Workload } from "./workload.ts";

/**
 * What durability costs: the same closed-loop cache load (90 % GET, 10 % SET, pipeline 1)
 * against a release of each persistence profile (fixtures/persistence/), side by side.
 */
export function persistenceWorkload(): Workload {
  const settings: LoadSettings = { ...closedCache(1, 60_000), readRatio: 0.9 };
  const profiles = persistenceProfiles();
  const paths: BenchPath[] = profiles.map((name) => ({
    id: name,
    description: `${readProfile(name).description}: generator, host -> NodePort`,
    unit: "ops/s",
    run: async (context, label) => {
      if (!context.profile)
        throw new Error("the persistence workload needs releases per profile (BenchContext.profile)");
      return generatorRun({ ...context, ...(await context.profile(name)) }, label, settings, THREADS);
    },
  }));
  return {
    id: "cache-persistence",
    name: "Cache, closed loop, pipeline 1, 90 % GET / 10 % SET, on a release of each persistence profile",
    latency: "round trip of one command",
    settings: { ...settings, threads: THREADS, profiles },
    prepare: async (context) => {
      if (!context.profile)
        throw new Error("the persistence workload needs releases per profile (BenchContext.profile)");
      for (const name of profiles) {
        const target = await context.profile(name);
        await preloadKeySpace(target.address, target.credentials, settings.keySpace, settings.valueBytes);
      }
    },
    paths,
    ratios: profiles
      .filter((name) => name !== "rdb-upstream-default")
      .map((name) => ({
        name: `${name}-vs-rdb`,
        numerator: `cache-persistence/${name}`,
        denominator: "cache-persistence/rdb-upstream-default",
        description: `Throughput with ${name} / with upstream's RDB-only default (what the durability costs)`,
      })),
  };
}
