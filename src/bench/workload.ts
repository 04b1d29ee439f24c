import type { Release } from "../chart/release.ts";
import type { Cluster } from "../cluster/index.ts";
import type { RatioSpec, RunSample } from "../report/bench.ts";
import type { Credentials, Endpoint } from "../valkey/index.ts";

/** What a workload's paths run against. */
export interface BenchContext {
  cluster: Cluster;
  release: Release;
  /** The load path: the primary's NodePort, published on 127.0.0.1. */
  address: Endpoint;
  credentials: Credentials;
  /** The Valkey image (valkey-benchmark comes from it). */
  image: string;
  runs: number;
  log: (line: string) => void;
  /** A release of the environment with a persistence profile layered on, reached from the host (installed on first use). */
  profile?: (name: string) => Promise<{ release: Release; address: Endpoint; credentials: Credentials }>;
  /** A release of the environment serving TLS (fixtures/profiles/tls.yaml), reached from the host (installed on first use). */
  tls?: () => Promise<{ release: Release; address: Endpoint; credentials: Credentials }>;
}

/** One way of producing a workload's load (a generator, a reference tool, a path). */
export interface BenchPath {
  /** Unique within the workload; the report names it `<workload>/<id>`. */
  id: string;
  description: string;
  /** What throughput counts: ops/s, requests/s, deliveries/s. */
  unit: string;
  /** Runs the path once and returns what it measured; throws on any error the workload does not expect. */
  run: (context: BenchContext, label: string) => Promise<RunSample>;
}

/**
 * A benchmark workload: what load it is, how its latency is measured, its settings, and
 * the paths it runs on. Adding a workload is adding one of these to the registry.
 */
export interface Workload {
  id: string;
  name: string;
  /** How latency is measured, in words. */
  latency: string;
  settings: Record<string, unknown>;
  /** Runs of each path (default: the benchmark's runs); disruptions run once. */
  runs?: number;
  /** Once before the runs (e.g. preload the key space). */
  prepare?: (context: BenchContext) => Promise<void>;
  /** Once after the runs, also when one failed (e.g. stop a service the paths used). */
  finish?: () => Promise<void>;
  paths: BenchPath[];
  ratios?: RatioSpec[];
}
