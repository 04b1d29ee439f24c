import { readFileSync } from "node:fs";
import { beforeAll, describe, expect, test } from "vitest";
import { Helm } from "../../src/chart/helm.ts";
import { pinnedUpstreamVersion, renderChart, stageChart } from "../../src/chart/wrapper.ts";
import { environments, environmentValuesFile } from "../../src/environments.ts";
import { listFiles } from "../../src/files.ts";

/**
 * GitOps tools (Argo CD, Flux with post-rendering) render the chart with `helm template`
 * and apply what comes out: the rendering must not depend on the cluster (`lookup`
 * returns nothing there), on when it runs (random or time-based values change every
 * sync), or on hooks the tool orders differently (Argo CD ignores test hooks).
 */
describe("the chart rendered the GitOps way (helm template)", () => {
  let helm: Helm;
  let chart: string;
  beforeAll(async () => {
    helm = await Helm.fromSettings();
    chart = await stageChart(helm, pinnedUpstreamVersion());
  });

  test("no template of the wrapper or of the pinned upstream calls lookup, randAlphaNum, uuidv4, now or genCA", () => {
    const templates = listFiles(chart).filter((file) => /\/templates\/.*\.(yaml|tpl|txt)$/.test(file));
    expect(templates.length).toBeGreaterThan(10);
    const found = templates.flatMap((file) =>
      readFileSync(file, "utf8")
        .split("\n")
        .map((line, i) => ({ line, at: `${file.slice(chart.length + 1)}:${i + 1}` }))
        .filter(({ line }) =>
          /\{\{[^}]*\b(lookup|randAlpha|randAlphaNum|randNumeric|randAscii|uuidv4|now|genCA|genPrivateKey|genSelfSignedCert)\b/.test(
            line,
          ),
        )
        .map(({ line, at }) => `${at}: ${line.trim()}`),
    );
    expect(found).toEqual([]);
  });

  test.each(environments())("renders %s identically twice (a GitOps sync sees no drift of its own)", async (env) => {
    const render = () =>
      helm.run(["template", "valkey", chart, "--namespace", "gitops", "-f", environmentValuesFile(env, chart)]);
    const [first, second] = [await render(), await render()];
    expect(first.length).toBeGreaterThan(1000);
    expect(second).toBe(first);
  });

  test.each(environments())("gives %s no hook but the helm test pod (a GitOps tool skips it)", async (env) => {
    const manifests = await renderChart(helm, chart, {
      namespace: "gitops",
      valuesFiles: [environmentValuesFile(env, chart)],
    });
    const hooks = manifests
      .filter((m) => m.metadata.annotations?.["helm.sh/hook"])
      .map((m) => `${m.kind}/${m.metadata.name}: ${m.metadata.annotations?.["helm.sh/hook"]}`);
    expect(hooks).toEqual(["Pod/valkey-wrapper-test: test"]);
  });
});
