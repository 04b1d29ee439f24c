import { Helm, type HelmMajor, HelmUnavailable } from "../../src/chart/helm.ts";
import { isCI } from "../../src/settings.ts";

/**
 * The Helm majors this machine can run, for suites that render with both. A laptop without
 * Go (nothing to build a pinned major with) and without a helm of that major on PATH skips
 * that major with one line; under CI=true every major runs, and a missing one fails.
 */
export async function helmMajorsHere(): Promise<HelmMajor[]> {
  const majors: HelmMajor[] = [];
  for (const major of ["4", "3"] as const) {
    try {
      await Helm.plan(major);
      majors.push(major);
    } catch (error) {
      if (isCI() || !(error instanceof HelmUnavailable)) throw error;
      console.warn(`SKIPPED: the Helm ${major} renders: ${error.message}`);
    }
  }
  return majors;
}
