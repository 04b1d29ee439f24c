import type { Kube } from "./index.ts";
import { statusCode } from "./index.ts";

/** The label of namespaces several test files of a run share; the run's global teardown removes them. */
export const SHARED_NAMESPACE_LABEL = "org.valkey-harness.shared";

/**
 * Namespaces that checks of several files use at once (the `monitoring` namespace a
 * NetworkPolicy admits, client namespaces a policy names): created on first use unless
 * they exist already, labelled, and never deleted by a file (another file may still use
 * them): `deleteSharedNamespaces` removes the labelled ones when the run ends. A namespace
 * that existed before (a real cluster's `monitoring`) is never labelled, so never deleted.
 */
export class SharedNamespaces {
  private readonly kube: Kube;
  private readonly ensured = new Map<string, Promise<void>>();

  constructor(kube: Kube) {
    this.kube = kube;
  }

  /** Creates the namespace with `labels` unless it exists (an existing one is left as it is). */
  async ensure(name: string, labels: Record<string, string> = {}): Promise<void> {
    let pending = this.ensured.get(name);
    if (!pending) {
      pending = (async () => {
        if (await this.kube.namespaceExists(name)) return;
        await this.kube.createNamespace(name, { ...labels, [SHARED_NAMESPACE_LABEL]: "true" }).catch((error) => {
          if (statusCode(error) !== 409) throw error;
        });
      })();
      this.ensured.set(name, pending);
    }
    await pending;
  }
}

/** Deletes the shared namespaces the harness created during a run (global teardown). */
export async function deleteSharedNamespaces(kube: Kube): Promise<string[]> {
  const list = await kube.core.listNamespace({ labelSelector: `${SHARED_NAMESPACE_LABEL}=true` });
  const names = list.items.map((n) => n.metadata?.name as string);
  await Promise.all(names.map((name) => kube.deleteNamespace(name)));
  return names;
}
