import { DiscoveryV1Api } from "@kubernetes/client-node";
import { metricValue, parseMetrics, replicationInfo, withClient } from "../valkey/index.ts";
import { type Check, type CheckContext, Verdict } from "./check.ts";

/**
 * Where a scraper runs: the namespace the environment's NetworkPolicy admits to the metrics
 * port (where Prometheus runs), or the release's own namespace when there is no policy.
 */
async function scrapeNamespace({ expected, release, namespaces }: CheckContext): Promise<string> {
  const policy = expected.networkPolicy;
  if (!policy.enabled) return release.namespace;
  const namespace = policy.metricsNamespaces[0];
  if (!namespace) return release.namespace;
  await namespaces.ensure(namespace);
  return namespace;
}

/** Runs `use` with a helper pod in the scrape namespace that fetches URLs over the pod network. */
async function withScraper<T>(
  context: CheckContext,
  use: (fetch: (url: string) => Promise<{ ok: boolean; body: string; error: string }>, namespace: string) => Promise<T>,
): Promise<T> {
  const { cluster, release } = context;
  const namespace = await scrapeNamespace(context);
  const name = `scraper-${release.namespace}`.slice(0, 63);
  await cluster.startPod(namespace, cluster.helperPod(name));
  try {
    return await use(async (url) => {
      // busybox's `wget -T` segfaults in this image; `timeout` bounds the request instead.
      const result = await cluster.sh(namespace, name, `timeout 5 wget -q -O - ${url}`);
      return {
        ok: result.exitCode === 0,
        body: result.stdout,
        error: result.stderr.trim() || `exit status ${result.exitCode}`,
      };
    }, namespace);
  } finally {
    await cluster.kube.core.deleteNamespacedPod({ namespace, name, gracePeriodSeconds: 0 }).catch(() => undefined);
  }
}

export const exporters: Check = {
  id: "metrics.exporters",
  promise:
    "serves Prometheus metrics from an exporter in every pod on the declared port, scraped over the pod network from where Prometheus runs, agreeing with INFO",
  notApplicable: (features) => (features.metrics ? undefined : "the environment turns metrics off"),
  async run(context) {
    const verdict: Verdict = new Verdict(this.id);
    const { release, cluster, expected } = context;
    const pods = await cluster.kube.pods(release.namespace, release.labelSelector);
    await withScraper(context, async (fetch, namespace) => {
      for (let i = 0; i < expected.pods; i++) {
        const pod = pods.find((p) => p.metadata?.name === release.podName(i));
        verdict.that(pod?.status?.podIP, `pod ${i} (${release.podName(i)}) has no IP`);
        const exporter = pod.spec?.containers.find((c) => c.name === "metrics");
        verdict.that(exporter, `pod ${i} has no exporter container ("metrics"): the environment turns metrics on`);
        const scrape = await fetch(`http://${pod.status.podIP}:${expected.metrics.port}${expected.metrics.path}`);
        verdict.that(
          scrape.ok,
          `scraping pod ${i}'s exporter at ${pod.status.podIP}:${expected.metrics.port}${expected.metrics.path} from namespace ${namespace} failed: ${scrape.error}`,
        );
        const samples = parseMetrics(scrape.body);
        verdict.equal(metricValue(samples, "redis_up"), 1, `redis_up of pod ${i}`);
        const info = await withClient(await release.endpoint(i), release.clientCredentials, replicationInfo);
        verdict.equal(
          metricValue(samples, "redis_connected_slaves"),
          Number(info.connected_slaves),
          `redis_connected_slaves of pod ${i} (INFO says ${info.connected_slaves})`,
        );
        verdict.equal(
          metricValue(samples, "redis_instance_info", { role: info.role as string }),
          1,
          `redis_instance_info{role="${info.role}"} of pod ${i}`,
        );
      }
    });
  },
};

export const scrapeAnnotations: Check = {
  id: "metrics.annotations",
  promise:
    "annotates the metrics Service so that annotation-based discovery scrapes every pod: prometheus.io/scrape, a port and a path that serve metrics on each endpoint",
  notApplicable: (features) => (features.metrics ? undefined : "the environment turns metrics off"),
  async run(context) {
    const verdict: Verdict = new Verdict(this.id);
    const { release, cluster, expected } = context;
    const name = `${release.fullname}-metrics`;
    const service = await cluster.kube.core
      .readNamespacedService({ namespace: release.namespace, name })
      .catch(() => undefined);
    verdict.that(service, `the metrics Service ${name} does not exist`);
    const annotations = service.metadata?.annotations ?? {};
    verdict.equal(annotations["prometheus.io/scrape"], "true", `prometheus.io/scrape on Service ${name}`);
    for (const [key, value] of Object.entries(expected.metrics.serviceAnnotations)) {
      verdict.equal(annotations[key], value, `${key} on Service ${name}`);
    }
    const port = annotations["prometheus.io/port"];
    const path = annotations["prometheus.io/path"] ?? "/metrics";
    verdict.equal(port, String(expected.metrics.port), `prometheus.io/port on Service ${name} (the exporter's port)`);
    // What kubernetes-service-endpoints discovery does: every endpoint of the Service, at the annotated port and path.
    const slices = await cluster.kube.config.makeApiClient(DiscoveryV1Api).listNamespacedEndpointSlice({
      namespace: release.namespace,
      labelSelector: `kubernetes.io/service-name=${name}`,
    });
    const addresses = slices.items.flatMap((s) =>
      (s.endpoints ?? []).filter((e) => e.conditions?.ready).flatMap((e) => e.addresses),
    );
    verdict.equal(addresses.length, expected.pods, `ready endpoints of Service ${name}`);
    await withScraper(context, async (fetch, namespace) => {
      for (const address of addresses) {
        const scrape = await fetch(`http://${address}:${port}${path}`);
        verdict.that(
          scrape.ok && /^redis_up \d/m.test(scrape.body),
          `endpoint ${address} at the annotated port ${port} and path ${path} does not serve the exporter's metrics to namespace ${namespace}: ${scrape.ok ? "no redis_up sample in the reply" : scrape.error}`,
        );
      }
    });
  },
};
