import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { parse } from "yaml";
import { cachedChartPath } from "../../src/chart/upstream.ts";
import { pinnedUpstreamVersion, upstreamDefaultImage } from "../../src/chart/wrapper.ts";
import { WRAPPER_CHART } from "../../src/environments.ts";

interface ChartYaml {
  version: string;
  appVersion: string;
  annotations: Record<string, string>;
}

const chart = parse(readFileSync(join(WRAPPER_CHART, "Chart.yaml"), "utf8")) as ChartYaml;
const upstream = cachedChartPath(pinnedUpstreamVersion());
const upstreamChart = parse(readFileSync(join(upstream, "Chart.yaml"), "utf8")) as { appVersion: string };
const upstreamValues = parse(readFileSync(join(upstream, "values.yaml"), "utf8")) as {
  metrics: { exporter: { image: { registry: string; repository: string; tag: string } } };
};

describe("the chart's metadata", () => {
  test("appVersion is the pinned upstream chart's appVersion (the Valkey it runs)", () => {
    expect(chart.appVersion).toBe(upstreamChart.appVersion);
  });

  test("artifacthub.io/images names the pinned upstream's server and exporter images", () => {
    const exporter = upstreamValues.metrics.exporter.image;
    const images = (parse(chart.annotations["artifacthub.io/images"] as string) as { image: string }[]).map(
      (i) => i.image,
    );
    expect(images).toEqual([
      upstreamDefaultImage(upstream),
      `${exporter.registry}/${exporter.repository}:${exporter.tag}`,
    ]);
  });

  test("the wrapper's init container runs the pinned upstream's server image", () => {
    const values = parse(readFileSync(join(WRAPPER_CHART, "values.yaml"), "utf8")) as {
      valkey: { extraInitContainers: { name: string; image: string }[] };
    };
    expect(values.valkey.extraInitContainers.map((c) => c.image)).toEqual([upstreamDefaultImage(upstream)]);
  });

  test("artifacthub.io/changes repeats the CHANGELOG entry of this version", () => {
    const changelog = readFileSync(join(WRAPPER_CHART, "CHANGELOG.md"), "utf8");
    const entry = changelog.split(/^## /m).find((section) => section.startsWith(`${chart.version}\n`));
    expect(entry, `CHANGELOG.md has an entry "## ${chart.version}"`).toBeDefined();
    const bullets = (entry ?? "")
      .split("\n")
      .filter((line) => line.startsWith("- "))
      .map((line) => line.slice(2));
    const changes = parse(chart.annotations["artifacthub.io/changes"] as string) as { description: string }[];
    expect(changes.length).toBeGreaterThan(0);
    for (const change of changes) {
      expect(
        bullets.some((bullet) => bullet.startsWith(change.description)),
        `"${change.description}" begins a bullet of the ${chart.version} entry`,
      ).toBe(true);
    }
  });
});
