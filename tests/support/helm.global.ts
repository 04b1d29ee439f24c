import { Helm, type HelmChoice, HelmUnavailable } from "../../src/chart/helm.ts";
import { setting } from "../../src/settings.ts";

/**
 * Builds the Helm releases the suites use once, before any worker starts: on a fresh
 * machine every worker would otherwise compile the same Helm side by side. What cannot be
 * had here (no Go, no helm of that major) is left to the suites, which skip or fail with
 * the reason.
 */
export default async function setup(): Promise<void> {
  const choices = new Set<HelmChoice>([setting("VALKEY_HELM"), "4", "3"]);
  for (const choice of choices) {
    await Helm.resolve(choice).catch((error: unknown) => {
      if (!(error instanceof HelmUnavailable)) throw error;
    });
  }
}
