import { waitFor } from "../kube/index.ts";
import type { Target } from "../prometheus/index.ts";
import { ELSEWHERE_NAMESPACE, MONITORING_NAMESPACE } from "../prometheus/monitoring.ts";
import { replicationInfo, withClient } from "../valkey/index.ts";
import { type Check, type CheckContext, Verdict } from "./check.ts";

/** How long a real Prometheus may take to discover and scrape the exporters (README). */
export const DISCOVERY_BOUND_SECONDS = 45;

const describeTargets = (targets: Target[]) =>
  targets
    .map((t) => `${t.labels.pod ?? t.scrapeUrl}: ${t.health}${t.lastError ? ` (${t.lastError})` : ""}`)
    .join("; ") || "none";

/** The release's exporter targets in a Prometheus: the annotation-driven job's, of its metrics Service. */
function releaseTargets(targets: Target[], context: CheckContext): Target[] {
  return targets.filter(
    (t) =>
      t.scrapePool === "kubernetes-service-endpoints" &&
      t.labels.namespace === context.release.namespace &&
      t.labels.service === `${context.release.fullname}-metrics`,
  );
}

export const discovery: Check = {
  id: "prometheus.discovery",
  promise: `is found and scraped by a real Prometheus that has only the conventional annotation-driven scrape jobs: one healthy target per pod within ${DISCOVERY_BOUND_SECONDS} s`,
  notApplicable: (features) => (features.metrics ? undefined : "the environment turns metrics off"),
  requires: "prometheus",
  async run(context) {
    const verdict: Verdict = new Verdict(this.id);
    const prometheus = await context.monitoring.shared();
    const started = performance.now();
    let found: Target[] = [];
    await waitFor(
      "the release's exporters to be up in Prometheus",
      async () => {
        found = releaseTargets(await prometheus.targets(), context);
        return found.length === context.expected.pods && found.every((t) => t.health === "up");
      },
      { timeoutMs: DISCOVERY_BOUND_SECONDS * 1000, intervalMs: 1000 },
    ).catch(() =>
      verdict.fail(
        `after ${DISCOVERY_BOUND_SECONDS} s the annotation-driven job of Prometheus in ${MONITORING_NAMESPACE} scrapes ${found.filter((t) => t.health === "up").length} of the release's ${context.expected.pods} exporters (targets found: ${describeTargets(found)})`,
      ),
    );
    context.log(
      `[prometheus ${context.release.env}] ${found.length} exporters discovered and up after ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
  },
};

export const series: Check = {
  id: "prometheus.series",
  promise:
    "gives Prometheus the series teams alert on, agreeing with INFO: redis_up 1 on every pod, the primary's redis_connected_slaves equal to the replicas, redis_master_link_up 1 on every replica",
  notApplicable: (features) => (features.metrics ? undefined : "the environment turns metrics off"),
  requires: "prometheus",
  async run(context) {
    const verdict: Verdict = new Verdict(this.id);
    const { release, expected } = context;
    const prometheus = await context.monitoring.shared();
    const selector = `namespace="${release.namespace}", service="${release.fullname}-metrics"`;
    const info = await withClient(await release.endpoint(0), release.clientCredentials, replicationInfo);
    const problems = async () => {
      const byPod = async (metric: string) =>
        new Map((await prometheus.query(`${metric}{${selector}}`)).map((s) => [s.metric.pod ?? "", s.value]));
      const up = await byPod("redis_up");
      const slaves = await byPod("redis_connected_slaves");
      const link = await byPod("redis_master_link_up");
      const wrong: string[] = [];
      for (let i = 0; i < expected.pods; i++) {
        const pod = release.podName(i);
        if (up.get(pod) !== 1) wrong.push(`redis_up of ${pod} is ${up.get(pod) ?? "absent"}`);
        if (i > 0 && link.get(pod) !== 1) wrong.push(`redis_master_link_up of ${pod} is ${link.get(pod) ?? "absent"}`);
      }
      const primarySlaves = slaves.get(release.podName(0));
      if (primarySlaves !== expected.replicas || primarySlaves !== Number(info.connected_slaves)) {
        wrong.push(
          `redis_connected_slaves of ${release.podName(0)} is ${primarySlaves ?? "absent"} (replicas declared ${expected.replicas}, INFO says ${info.connected_slaves})`,
        );
      }
      return wrong;
    };
    let last: string[] = [];
    // Series follow the pods within a scrape interval or two.
    await waitFor(
      "the series to agree",
      async () => {
        last = await problems();
        return last.length === 0;
      },
      { timeoutMs: 30_000, intervalMs: 1000 },
    ).catch(() => verdict.fail(`PromQL on the scraped series: ${last.join("; ")}`));
  },
};

export const scrapeOnlyFromAdmitted: Check = {
  id: "prometheus.network-policy",
  promise: `lets a Prometheus in the namespace its NetworkPolicy admits scrape the exporters, while one in another namespace (${ELSEWHERE_NAMESPACE}) finds them but cannot scrape them (up 0)`,
  notApplicable: (features) =>
    features.networkPolicy && features.metrics ? undefined : "the environment has no NetworkPolicy (or no metrics)",
  requires: "prometheus",
  async run(context) {
    const verdict: Verdict = new Verdict(this.id);
    const admitted = await context.monitoring.shared();
    const elsewhere = await context.monitoring.elsewhere(context.release.namespace);
    let inside: Target[] = [];
    let outside: Target[] = [];
    await waitFor(
      "both Prometheus instances to have scraped the exporters",
      async () => {
        inside = releaseTargets(await admitted.targets(), context);
        outside = releaseTargets(await elsewhere.targets(), context);
        const settled = (targets: Target[]) =>
          targets.length === context.expected.pods && targets.every((t) => t.health !== "unknown");
        return settled(inside) && settled(outside) && inside.every((t) => t.health === "up");
      },
      { timeoutMs: DISCOVERY_BOUND_SECONDS * 1000, intervalMs: 1000 },
    ).catch(() =>
      verdict.fail(
        `after ${DISCOVERY_BOUND_SECONDS} s: from ${MONITORING_NAMESPACE}: ${describeTargets(inside)}; from ${ELSEWHERE_NAMESPACE}: ${describeTargets(outside)}`,
      ),
    );
    const scraped = outside.filter((t) => t.health === "up");
    verdict.that(
      scraped.length === 0,
      `a Prometheus in ${ELSEWHERE_NAMESPACE}, which the NetworkPolicy does not admit, scraped ${scraped.length} exporter(s): ${describeTargets(scraped)}`,
    );
  },
};
