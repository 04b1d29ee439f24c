import type { Cluster } from "../cluster/index.ts";
import type { SharedNamespaces } from "../kube/namespaces.ts";
import { setting } from "../settings.ts";
import { type StartedPrometheus, startPrometheus } from "./index.ts";

/** The namespace Prometheus runs in: the one prod-01's NetworkPolicy admits to the metrics port. */
export const MONITORING_NAMESPACE = "monitoring";
/** A namespace no environment's NetworkPolicy admits: a Prometheus there must not scrape them. */
export const ELSEWHERE_NAMESPACE = "prometheus-elsewhere";

/**
 * The Prometheus instances a test file's checks share: one in `monitoring` that discovers
 * every namespace, and, on demand, instances elsewhere restricted to one namespace each.
 * Deployed on first use, removed with the file.
 */
export class Monitoring {
  private readonly cluster: Cluster;
  private readonly namespaces: SharedNamespaces;
  private sharedInstance?: Promise<StartedPrometheus>;
  private readonly others: Promise<StartedPrometheus>[] = [];

  constructor(cluster: Cluster, namespaces: SharedNamespaces) {
    this.cluster = cluster;
    this.namespaces = namespaces;
  }

  /** Whether a Prometheus image is at hand (the offline images, or VALKEY_PROMETHEUS_IMAGE). */
  get available(): boolean {
    return !!(setting("VALKEY_PROMETHEUS_IMAGE") ?? this.cluster.info.images?.prometheus);
  }

  shared(): Promise<StartedPrometheus> {
    this.sharedInstance ??= (async () => {
      await this.namespaces.ensure(MONITORING_NAMESPACE);
      return startPrometheus(this.cluster, { namespace: MONITORING_NAMESPACE, name: `prometheus-${process.pid}` });
    })();
    return this.sharedInstance;
  }

  /** A Prometheus in a namespace no NetworkPolicy admits, discovering only `namespace`. */
  elsewhere(namespace: string): Promise<StartedPrometheus> {
    const started = (async () => {
      await this.namespaces.ensure(ELSEWHERE_NAMESPACE);
      return startPrometheus(this.cluster, {
        namespace: ELSEWHERE_NAMESPACE,
        name: `prom-${namespace}`.slice(0, 50),
        namespaces: [namespace],
      });
    })();
    this.others.push(started);
    return started;
  }

  async stop(): Promise<void> {
    const all = [this.sharedInstance, ...this.others].filter((p): p is Promise<StartedPrometheus> => !!p);
    await Promise.all(all.map(async (p) => (await p.catch(() => undefined))?.stop()));
  }
}
