import { afterAll, describe, expect } from "vitest";
import type { Release } from "../../src/chart/release.ts";
import { installRelease } from "../../src/chart/release.ts";
import { cachedUpstreamVersions, compareVersions } from "../../src/chart/upstream.ts";
import { environmentsOf } from "../../src/chart/values.ts";
import { pinnedUpstreamVersion } from "../../src/chart/wrapper.ts";
import { waitFor } from "../../src/kube/index.ts";
import { commandErrorIn } from "../../src/process.ts";
import { markdownTable, writeReport } from "../../src/report/index.ts";
import { isCI, SettingError, setting } from "../../src/settings.ts";
import {
  type Dataset,
  metricValue,
  parseInfo,
  parseMetrics,
  readDataset,
  replicationInfo,
  withClient,
  writeDataset,
} from "../../src/valkey/index.ts";
import { clusterUnavailable, test } from "../support/fixtures.ts";

const pinned = pinnedUpstreamVersion();

/** Candidates: VALKEY_UPGRADE_CANDIDATES, else every cached upstream version newer than the pin. */
function candidates(): string[] {
  const chosen =
    setting("VALKEY_UPGRADE_CANDIDATES") ?? cachedUpstreamVersions().filter((v) => compareVersions(v, pinned) > 0);
  const notLater = chosen.filter((v) => compareVersions(v, pinned) <= 0);
  if (notLater.length > 0) {
    throw new SettingError(
      "VALKEY_UPGRADE_CANDIDATES",
      chosen.join(","),
      `${notLater.join(", ")} is not later than the pinned ${pinned}: an upgrade goes from the pin to a later version`,
    );
  }
  return chosen;
}

const chosen = candidates();
const matrix = environmentsOf("VALKEY_UPGRADE_ENVS").flatMap((env) => chosen.map((candidate) => ({ env, candidate })));
const noCandidates =
  chosen.length === 0
    ? `no upgrade candidate: the chart cache (${cachedUpstreamVersions().join(", ") || "empty"}) holds no upstream version newer than the pinned ${pinned}, and VALKEY_UPGRADE_CANDIDATES is unset`
    : undefined;
if (noCandidates && !clusterUnavailable) {
  if (isCI())
    throw new Error(`${noCandidates}. Fill the chart cache (README, "Offline use") or set VALKEY_UPGRADE_CANDIDATES.`);
  console.warn(`SKIPPED: the upgrade matrix: ${noCandidates}`);
}

interface Outcome {
  env: string;
  from: string;
  to: string;
  result: "pass" | "fail";
  failedStep?: string;
  /** Upstream's (helm's, the chart's) own words, whole; the harness's context after them. */
  error?: string;
  seconds: number;
}
const outcomes: Outcome[] = [];

/** The upstream version the release's StatefulSet was rendered from, and that every pod runs its current template. */
async function verifyRolledOutTo(release: Release, version: string): Promise<void> {
  const set = await release.cluster.kube.apps.readNamespacedStatefulSet({
    name: release.fullname,
    namespace: release.namespace,
  });
  expect(set.metadata?.labels?.["helm.sh/chart"], "the StatefulSet's chart label").toBe(`valkey-${version}`);
  const pods = await release.cluster.kube.pods(release.namespace, release.labelSelector);
  for (const pod of pods) {
    expect(
      pod.metadata?.labels?.["controller-revision-hash"],
      `${pod.metadata?.name} runs the StatefulSet's current template`,
    ).toBe(set.status?.updateRevision);
  }
}

/** Data, replication, metrics and the server version, as after any release change. */
async function verify(release: Release, dataset: Dataset): Promise<void> {
  await release.waitReady(240_000);
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
  const imageVersion = release.fit.images?.valkey.match(/:(\d+\.\d+\.\d+)/)?.[1];
  for (let i = 0; i <= release.replicas; i++) {
    await withClient(await release.endpoint(i), release.clientCredentials, async (c) => {
      expect((await readDataset(c, dataset)).checksum, `dataset on pod ${i}`).toBe(dataset.checksum);
      if (imageVersion)
        expect(parseInfo(await c.info("server")).valkey_version, `server version of pod ${i}`).toBe(imageVersion);
    });
    const metrics = parseMetrics(
      await release.cluster.kube.proxyGet(release.namespace, release.podName(i), 9121, "/metrics"),
    );
    expect(metricValue(metrics, "redis_up"), `redis_up on pod ${i}`).toBe(1);
  }
}

describe.skipIf(!!clusterUnavailable || !!noCandidates)(`upgrades from upstream valkey ${pinned}`, () => {
  afterAll(() => {
    if (outcomes.length === 0) return;
    const firstLines = (text = "") => text.split("\n").slice(0, 6).join(" / ");
    const table = markdownTable(
      ["environment", "from", "to", "result", "failed step", "upstream's error (first lines)", "seconds"],
      outcomes.map((o) => [o.env, o.from, o.to, o.result, o.failedStep ?? "", firstLines(o.error), o.seconds]),
    );
    const paths = writeReport("upgrade-matrix", { pinned, outcomes }, `### Upstream upgrade matrix\n\n${table}`);
    console.log(`[upgrade] report: ${paths.markdown}\n${table}`);
  });

  test.concurrent.for(matrix)(
    "$env: upgrade to $candidate keeps data, replication and metrics, runs the new chart, and rolls back",
    async ({ env, candidate }, { cluster, helm, onTestFailed }) => {
      const namespace = `upgrade-${env}-${candidate.replaceAll(".", "-")}`;
      const started = performance.now();
      let step = "install the pinned version";
      let release: Release | undefined;
      let failure: unknown;
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
        await r.upgrade({ upstreamVersion: candidate });
        step = `verify after the upgrade to ${candidate}`;
        await verifyRolledOutTo(r, candidate);
        await verify(r, dataset);
        step = "helm rollback";
        await r.rollback(1);
        step = `verify after the rollback to ${pinned}`;
        await verifyRolledOutTo(r, pinned);
        await verify(r, dataset);
      } catch (error) {
        failure = error;
      } finally {
        // A cleanup failure is reported, never put in place of the step that failed.
        await release?.uninstall().catch((error: Error) => console.error(`[upgrade ${env}] cleanup: ${error.message}`));
        await cluster.kube
          .deleteNamespace(namespace)
          .catch((error: Error) => console.error(`[upgrade ${env}] cleanup: ${error.message}`));
      }
      const seconds = Math.round((performance.now() - started) / 1000);
      if (failure === undefined) {
        outcomes.push({ env, from: pinned, to: candidate, result: "pass", seconds });
        return;
      }
      const message = failure instanceof Error ? failure.message : String(failure);
      const upstream = commandErrorIn(failure)?.output;
      const error = upstream
        ? `${upstream}\n(harness: ${message.split("\n")[0]})`
        : (message.split("\n--- ")[0] ?? message);
      outcomes.push({ env, from: pinned, to: candidate, result: "fail", failedStep: step, error, seconds });
      throw new Error(`upgrade of ${env} from ${pinned} to candidate ${candidate} failed at "${step}":\n${error}`, {
        cause: failure,
      });
    },
  );
});
