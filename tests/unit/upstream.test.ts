import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { Helm } from "../../src/chart/helm.ts";
import { resolveUpstreamChart } from "../../src/chart/upstream.ts";
import { scratchDir } from "../../src/files.ts";

describe("upstream chart resolution", () => {
  let previous: string | undefined;
  beforeEach(() => {
    previous = process.env.VALKEY_HARNESS_CACHE;
  });
  afterEach(() => {
    if (previous === undefined) delete process.env.VALKEY_HARNESS_CACHE;
    else process.env.VALKEY_HARNESS_CACHE = previous;
  });

  test("refuses a version that is not semantic", async () => {
    const helm = await Helm.fromSettings();
    await expect(resolveUpstreamChart(helm, "latest")).rejects.toThrow(/"latest" is not a semantic version/);
  });

  test("names the folder to fill when a version is neither cached nor reachable", async () => {
    const helm = await Helm.fromSettings();
    const empty = scratchDir("chart-cache-");
    process.env.VALKEY_HARNESS_CACHE = empty;
    const resolution = resolveUpstreamChart(helm, "0.0.1");
    // Offline the pull fails at once; online the repository has no 0.0.1. Either way:
    await expect(resolution).rejects.toThrow(join(empty, "charts", "valkey-0.0.1", "valkey", "Chart.yaml"));
  });
});
