import { reportCleanupFailure } from "../cleanup-log.ts";
import type { Kube } from "./index.ts";
import { statusCode } from "./index.ts";

/**
 * Namespaces that several checks of a run use at once (the `monitoring` namespace a
 * NetworkPolicy admits, client namespaces a policy names): created on first use unless
 * they exist already, and deleted by `cleanup` only if this run created them.
 */
export class SharedNamespaces {
  private readonly kube: Kube;
  /** name -> whether this run created it */
  private readonly created = new Map<string, Promise<boolean>>();

  constructor(kube: Kube) {
    this.kube = kube;
  }

  async ensure(name: string, labels: Record<string, string> = {}): Promise<void> {
    let pending = this.created.get(name);
    if (!pending) {
      pending = (async () => {
        if (await this.kube.namespaceExists(name)) return false;
        return this.kube.createNamespace(name, labels).then(
          () => true,
          (error) => {
            if (statusCode(error) === 409) return false;
            throw error;
          },
        );
      })();
      this.created.set(name, pending);
    }
    await pending;
  }

  async cleanup(): Promise<void> {
    const entries = await Promise.all(
      [...this.created.entries()].map(async ([name, created]) => [name, await created.catch(() => false)] as const),
    );
    this.created.clear();
    const names = entries.filter(([, created]) => created).map(([name]) => name);
    const results = await Promise.allSettled(names.map((name) => this.kube.deleteNamespace(name)));
    const failed = results.flatMap((r, i) =>
      r.status === "rejected" ? [`${names[i]}: ${r.reason?.message ?? r.reason}`] : [],
    );
    for (const failure of failed) reportCleanupFailure(`shared namespace ${failure}`);
    if (failed.length > 0) throw new Error(`could not delete shared namespaces: ${failed.join("; ")}`);
  }
}
