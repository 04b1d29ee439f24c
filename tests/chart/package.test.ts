import { appendFileSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import { Helm } from "../../src/chart/helm.ts";
import {
  type ChartPackage,
  formatChartReference,
  packageChart,
  packageDifferences,
  parseChartReference,
} from "../../src/chart/package.ts";
import { carriesUpstream, pinnedUpstreamVersion, stageChart, wrapperVersion } from "../../src/chart/wrapper.ts";
import { scratchDir } from "../../src/files.ts";
import { runOrThrow } from "../../src/process.ts";

/**
 * The package a release publishes. The push to and pull from a real OCI registry, and the
 * install checks on what was pulled, run in .ci/run (VALKEY_CHART against the registry on
 * 127.0.0.1); here: what the package holds, and that a package that is not the worktree's
 * chart is told apart.
 */
describe("the chart's package", () => {
  let helm: Helm;
  let pkg: ChartPackage;
  let unpacked: string;

  beforeAll(async () => {
    helm = await Helm.fromSettings();
    pkg = await packageChart(helm, scratchDir("package-"));
    unpacked = scratchDir("unpacked-");
    await runOrThrow("tar", ["-xzf", pkg.file, "-C", unpacked]);
  });

  test("is named and versioned as Chart.yaml says and carries the pinned upstream chart", () => {
    expect(pkg.file.endsWith(`valkey-${wrapperVersion()}.tgz`)).toBe(true);
    expect(carriesUpstream(join(unpacked, "valkey"), pinnedUpstreamVersion())).toBe(true);
  });

  test("holds the worktree's files byte for byte: templates, values, every environment's file, the test hook", () => {
    expect(packageDifferences(join(unpacked, "valkey"))).toEqual([]);
    for (const file of ["values.dev-01.yaml", "values.prod-01.yaml", "templates/tests/replication.yaml"]) {
      expect(readFileSync(join(unpacked, "valkey", file)).length).toBeGreaterThan(0);
    }
  });

  test("is installed as it is: staging a folder that carries its upstream returns it unchanged", async () => {
    expect(await stageChart(helm, pinnedUpstreamVersion(), join(unpacked, "valkey"))).toBe(join(unpacked, "valkey"));
  });

  test("a package that differs from the worktree is told apart, naming the file (the check can fail)", async () => {
    const other = scratchDir("other-");
    await runOrThrow("tar", ["-xzf", pkg.file, "-C", other]);
    appendFileSync(join(other, "valkey", "values.prod-01.yaml"), "\nreplicaCount: 1\n");
    mkdirSync(join(other, "valkey", "extra"));
    appendFileSync(join(other, "valkey", "extra", "note.txt"), "not in the worktree\n");
    expect(packageDifferences(join(other, "valkey"))).toEqual([
      "extra/note.txt is not in the worktree's chart",
      "values.prod-01.yaml differs from the worktree's",
    ]);
  });
});

describe("chart references", () => {
  test("oci://host[:port]/path/name:version, plain HTTP only for a registry on this machine", () => {
    expect(parseChartReference("oci://127.0.0.1:5000/charts/valkey:2.0.0")).toEqual({
      repository: "oci://127.0.0.1:5000/charts",
      name: "valkey",
      version: "2.0.0",
      plainHttp: true,
    });
    expect(parseChartReference("oci://ghcr.io/acme/charts/valkey:2.0.0")?.plainHttp).toBe(false);
    expect(parseChartReference("oci://ghcr.io/valkey")).toBeUndefined();
    expect(parseChartReference("https://ghcr.io/charts/valkey:2.0.0")).toBeUndefined();
    const reference = parseChartReference("oci://localhost:5000/valkey:2.0.0");
    expect(reference && formatChartReference(reference)).toBe("oci://localhost:5000/valkey:2.0.0");
  });
});
