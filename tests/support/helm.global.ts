import { Helm, type HelmChoice } from "../../src/chart/helm.ts";
import { setting } from "../../src/settings.ts";

/**
 * Builds the Helm a project uses once, before any worker starts: on a fresh machine every
 * worker would otherwise compile the same Helm side by side. The cluster suites use
 * VALKEY_HELM's choice; the unit and chart projects render with both pinned majors too.
 * Best effort: what cannot be had here is left to the suites, which skip or fail with the
 * reason.
 */
export function helmSetup(choices: readonly HelmChoice[]): () => Promise<void> {
  return async () => {
    for (const choice of new Set([setting("VALKEY_HELM"), ...choices])) {
      await Helm.resolve(choice).catch((error: unknown) => {
        console.warn(`[helm] ${choice}: ${error instanceof Error ? error.message.split("\n")[0] : error}`);
      });
    }
  };
}

export default helmSetup([]);
