import { afterAll, describe, expect } from "vitest";
import { installRelease, type Release } from "../../src/chart/release.ts";
import { cachedUpstreamVersions } from "../../src/chart/upstream.ts";
import { environments, pinnedUpstreamVersion } from "../../src/chart/wrapper.ts";
import { waitFor } from "../../src/kube/index.ts";
import { markdownTable, writeReport } from "../../src/report/index.ts";
import { listSetting, SettingError } from "../../src/settings.ts";
import {
  type Dataset,
  metricValue,
  parseMetrics,
  readDataset,
  replicationInfo,
  withClient,
  writeDataset,
} from "../../src/valkey/index.ts";
import { clusterUnavailable, test } from "../support/fixtures.ts";

const pinned = pinnedUpstreamVersion();

function setting(variable: string, fallback: string[], known: string[]): string[] {
  const wanted = listSetting(variable) ?? fallback;
  const unknown = wanted.filter((value) => !known.includes(value) && !/^\d+\.\d+\.\d+/.test(value));
  if (unknown.length)
    throw new SettingError(variable, wanted.join(","), `unknown: ${unknown.join(", ")}; known: ${known.join(", ")}`);
  return wanted;
}

/** Environments x candidate upstream versions (VALKEY_UPGRADE_ENVS, VALKEY_UPGRADE_CANDIDATES). */
const matrix = setting("VALKEY_UPGRADE_ENVS", ["dev-01"], environments()).flatMap((env) =>
  setting(
    "VALKEY_UPGRADE_CANDIDATES",
    cachedUpstreamVersions().filter((v) => v !== pinned),
    cachedUpstreamVersions(),
  ).map((candidate) => ({ env, candidate })),
);

interface Outcome {
  env: string;
  from: string;
  to: string;
  result: "pass" | "fail";
  failedStep?: string;
  error?: string;
  seconds: number;
}
const outcomes: Outcome[] = [];

/** Data, replication and metrics, as after any release change. */
async function verify(release: Release, dataset: Dataset, kube: Release["cluster"]["kube"]): Promise<void> {
  await release.cluster.kube.waitForReadyPods(
    release.namespace,
    "app.kubernetes.io/name=valkey",
    release.replicas + 1,
    240_000,
  );
  await withClient(await release.endpoint(0), release.clientCredentials, async (primary) => {
    await waitFor(
      "every replica attached",
      async () => Number((await replicationInfo(primary)).connected_slaves) === release.replicas,
      {
        timeoutMs: 60_000,
        intervalMs: 500,
      },
    );
    expect(await primary.wait(release.replicas, 5_000), "WAIT after the change").toBe(release.replicas);
  });
  for (let i = 0; i <= release.replicas; i++) {
    await withClient(await release.endpoint(i), release.clientCredentials, async (c) => {
      expect((await readDataset(c, dataset)).checksum, `dataset on pod ${i}`).toBe(dataset.checksum);
    });
    const metrics = parseMetrics(await kube.proxyGet(release.namespace, release.podName(i), 9121, "/metrics"));
    expect(metricValue(metrics, "redis_up"), `redis_up on pod ${i}`).toBe(1);
  }
}

describe.skipIf(!!clusterUnavailable || matrix.length === 0)(`upgrades from upstream valkey ${pinned}`, () => {
  afterAll(() => {
    if (outcomes.length === 0) return;
    const table = markdownTable(
      ["environment", "from", "to", "result", "failed step", "upstream's error", "seconds"],
      outcomes.map((o) => [
        o.env,
        o.from,
        o.to,
        o.result,
        o.failedStep ?? "",
        (o.error ?? "").slice(0, 400),
        o.seconds,
      ]),
    );
    const paths = writeReport("upgrade-matrix", { pinned, outcomes }, `### Upstream upgrade matrix\n\n${table}`);
    console.log(`[upgrade] report: ${paths.markdown}\n${table}`);
  });

  test.for(matrix)(
    "$env: upgrade to $candidate keeps data, replication and metrics, and rolls back",
    async ({ env, candidate }, { cluster, helm, onTestFailed }) => {
      const namespace = `upgrade-${env}-${candidate.replaceAll(".", "-")}`;
      const started = performance.now();
      let step = "install the pinned version";
      let release: Release | undefined;
      onTestFailed(async () => {
        if (release) console.error(await release.diagnostics());
      });
      try {
        await cluster.kube.createNamespace(namespace);
        release = await installRelease(helm, cluster, { env, namespace });
        step = "write a checksummed dataset";
        const r = release;
        const dataset = await withClient(await r.endpoint("primary"), r.clientCredentials, (c) =>
          writeDataset(c, `upgrade:${env}`, 3_000),
        );
        step = `helm upgrade to ${candidate}`;
        await r.upgrade(candidate);
        step = `verify after the upgrade to ${candidate}`;
        await verify(r, dataset, cluster.kube);
        step = "helm rollback";
        await helm.run(["rollback", r.name, "1", "--wait", "--timeout", "300s", ...r.helmArgs()]);
        step = "verify after the rollback";
        await verify(r, dataset, cluster.kube);
        outcomes.push({
          env,
          from: pinned,
          to: candidate,
          result: "pass",
          seconds: Math.round((performance.now() - started) / 1000),
        });
      } catch (error) {
        const message = error instanceof Error ? (error.message.split("\n--- ")[0] ?? error.message) : String(error);
        outcomes.push({
          env,
          from: pinned,
          to: candidate,
          result: "fail",
          failedStep: step,
          error: message,
          seconds: Math.round((performance.now() - started) / 1000),
        });
        throw new Error(`upgrade ${env} ${pinned} -> ${candidate} failed at "${step}": ${message}`);
      } finally {
        await release?.uninstall();
        await cluster.kube.deleteNamespace(namespace);
      }
    },
  );
});
