import { type InstallOptions, installRelease, type Release } from "../../src/chart/release.ts";
import { test } from "./fixtures.ts";

/**
 * Installs an environment into a namespace of its own for the enclosing `describe`, and
 * removes release, volumes and namespace afterwards (also when a test fails). A failing
 * test prints the release's diagnostics: pods, events, logs, values.
 */
export function useRelease(env: string, options: Partial<InstallOptions> = {}): () => Release {
  let release: Release | undefined;
  let namespace: string | undefined;

  test.beforeAll(async ({ cluster, helm }) => {
    namespace = `${env}-${Math.random().toString(36).slice(2, 7)}`;
    await cluster.kube.createNamespace(namespace);
    release = await installRelease(helm, cluster, { env, namespace, ...options });
  });

  test.afterAll(async ({ cluster }) => {
    await release?.uninstall();
    if (namespace) await cluster.kube.deleteNamespace(namespace);
  });

  test.beforeEach(({ onTestFailed }) => {
    onTestFailed(async () => {
      if (release) console.error(await release.diagnostics());
    });
  });

  return () => {
    if (!release) throw new Error(`environment ${env} is not installed (see the install error above)`);
    return release;
  };
}
