import { isDeepStrictEqual } from "node:util";
import type { V1Pod } from "@kubernetes/client-node";
import type { Release } from "../chart/release.ts";
import type { Features } from "../chart/values.ts";
import type { Cluster } from "../cluster/index.ts";
import type { Contract, Terms } from "../contract.ts";
import type { SharedNamespaces } from "../kube/namespaces.ts";
import type { Monitoring } from "../prometheus/monitoring.ts";
import type { Expected } from "./expected.ts";

/** What a check runs with. */
export interface CheckContext {
  release: Release;
  cluster: Cluster;
  /** What the environment asks for, computed from its files and the fit rules, never from Helm. */
  expected: Expected;
  /** Namespaces several checks may share (monitoring, allowed client namespaces), removed when the run ends. */
  namespaces: SharedNamespaces;
  /** Real Prometheus instances the monitoring checks share. */
  monitoring: Monitoring;
  /** The platform's contract the run judges by (never the revision's own values). */
  contract: Contract;
  log: (line: string) => void;
}

/**
 * A verdict on one promise of the chart. `promise` is the test's name and says exactly
 * what `run` asserts; `run` throws a CheckFailure naming what is wrong.
 */
export interface Check {
  /** Stable id: mutations name the check that must catch them by it. */
  id: string;
  promise: string;
  /**
   * Why the check does not apply to an environment (e.g. no NetworkPolicy), or undefined
   * when it does: from what the environment turns on and what the contract promises for it.
   */
  notApplicable?: (features: Features, terms: Terms) => string | undefined;
  /** Deletes pods or volumes: runs after the checks that only read. */
  disruptive?: boolean;
  /**
   * What the check needs beyond the API: node control (the harness's own cluster), or a
   * Prometheus image to deploy. Without it the check skips, saying why.
   */
  requires?: "nodeControl" | "prometheus";
  run: (context: CheckContext) => Promise<void>;
}

/**
 * Thrown by a check that finds at run time it cannot judge this release (a revision without
 * the feature, a promise the fit had to relax): reported as skipped with the reason, never as
 * a pass.
 */
export class CheckNotApplicable extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = "CheckNotApplicable";
  }
}

/** A check's verdict that the chart or cluster breaks its promise. */
export class CheckFailure extends Error {
  readonly check: string;
  constructor(check: string, message: string) {
    super(message);
    this.name = "CheckFailure";
    this.check = check;
  }
}

const show = (value: unknown) => (typeof value === "string" ? JSON.stringify(value) : JSON.stringify(value ?? null));

/** A small assertion vocabulary whose messages say what was expected, what was found, and where. */
export class Verdict {
  private readonly check: string;
  constructor(check: string) {
    this.check = check;
  }

  fail(message: string): never {
    throw new CheckFailure(this.check, message);
  }

  that(condition: unknown, message: string): asserts condition {
    if (!condition) this.fail(message);
  }

  /** Deep equality: "<what>: expected X, found Y". */
  equal<T>(found: unknown, expected: T, what: string): asserts found is T {
    if (!isDeepStrictEqual(found, expected)) this.fail(`${what}: expected ${show(expected)}, found ${show(found)}`);
  }
}

/** The release's pods; a verdict that it has none. */
export async function releasePods(
  verdict: { that(condition: unknown, message: string): asserts condition },
  { release, cluster }: Pick<CheckContext, "release" | "cluster">,
): Promise<V1Pod[]> {
  const pods = await cluster.kube.pods(release.namespace, release.labelSelector);
  verdict.that(pods.length > 0, "the release has no pods");
  return pods;
}

/** Why a check cannot run here, or undefined when it can. */
export function unmetRequirement(
  check: Check,
  context: Pick<CheckContext, "cluster" | "monitoring">,
): string | undefined {
  if (check.requires === "nodeControl" && !context.cluster.nodeControl) {
    return "needs node control, which a cluster the harness did not start does not offer";
  }
  if (check.requires === "prometheus" && !context.monitoring.available) {
    return "needs a Prometheus image: build the offline images (npm run images) or set VALKEY_PROMETHEUS_IMAGE";
  }
  return undefined;
}
