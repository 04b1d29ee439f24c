import { preloadKeySpace } from "./accounting.ts";
import { closedCache, generatorRun, THREADS } from "./common.ts";
import type { LoadSettings } from "./load.ts";
import type { BenchContext, BenchPath, Workload } from "./workload.ts";

/**
 * What TLS in transit costs: the same closed-loop GET load, at pipeline 1 and 16, against
 * the benchmark's release (plaintext) and a release of the same environment with the TLS
 * profile (fixtures/profiles/tls.yaml), both through a NodePort from the host, in one run.
 * The generator's clients verify the TLS release's CA, as an application's would.
 */
export function tlsWorkload(): Workload {
  const pipelines = [1, 16];
  const settingsOf = (pipeline: number): LoadSettings => closedCache(pipeline, pipeline === 1 ? 60_000 : 200_000);
  const target = async (context: BenchContext, tls: boolean) => {
    if (!tls) return { release: context.release, address: context.address, credentials: context.credentials };
    if (!context.tls) throw new Error("the TLS workload needs a release serving TLS (BenchContext.tls)");
    return context.tls();
  };
  const path = (pipeline: number, tls: boolean): BenchPath => {
    const settings = settingsOf(pipeline);
    return {
      id: `${tls ? "tls" : "plain"}-p${pipeline}`,
      description: `ioredis generator, ${tls ? "TLS (the CA verified)" : "plaintext"}, pipeline ${pipeline}, host -> NodePort`,
      unit: "ops/s",
      run: async (context, label) =>
        generatorRun({ ...context, ...(await target(context, tls)) }, label, settings, THREADS),
    };
  };
  const settings = settingsOf(1);
  const { maxOperations: _, ...common } = settings;
  return {
    id: "cache-tls",
    name: `Cache, closed loop, GET over ${settings.keySpace} preloaded ${settings.valueBytes}-byte values: plaintext and TLS, pipeline 1 and 16`,
    latency: "round trip of one command (pipeline 1) or of a 16-command pipeline",
    settings: {
      ...common,
      pipeline: pipelines.join(", "),
      maxOperations: pipelines.map((p) => `${settingsOf(p).maxOperations} (pipeline ${p})`).join(", "),
      threads: THREADS,
      profile: "fixtures/profiles/tls.yaml",
    },
    prepare: async (context) => {
      for (const tls of [false, true]) {
        const reached = await target(context, tls);
        await preloadKeySpace(reached.address, reached.credentials, settings.keySpace, settings.valueBytes);
      }
    },
    paths: pipelines.flatMap((pipeline) => [path(pipeline, false), path(pipeline, true)]),
    ratios: pipelines.map((pipeline) => ({
      name: `tls-vs-plain-p${pipeline}`,
      numerator: `cache-tls/tls-p${pipeline}`,
      denominator: `cache-tls/plain-p${pipeline}`,
      description: `Throughput over TLS / in plaintext, same generator, same verified work, pipeline ${pipeline} (what TLS costs)`,
    })),
  };
}
