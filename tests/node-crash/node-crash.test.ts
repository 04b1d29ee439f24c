import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, inject } from "vitest";
import { environmentHas, environmentsOf, environmentValues } from "../../src/chart/values.ts";
import type { Cluster } from "../../src/cluster/index.ts";
import { readProfile, readProfileFile } from "../../src/durability/profiles.ts";
import { recordDurability } from "../../src/durability/report.ts";
import { primaryNodeCrash, replicaNodeCrash, type ScenarioResult } from "../../src/durability/scenarios.ts";
import { setting } from "../../src/settings.ts";
import { clusterUnavailable, powerLossDisksProvided, test } from "../support/fixtures.ts";

/** Keeps the release off the server node: crashing it would take the API with it. */
const OFF_THE_SERVER = fileURLToPath(new URL("../../fixtures/scenarios/off-the-server.yaml", import.meta.url));
/** Puts the release's volumes on the agents' power-loss disks, where the cluster has them. */
const POWER_LOSS_DISK = fileURLToPath(new URL("../../fixtures/scenarios/power-loss-disk.yaml", import.meta.url));
/** A profile that never fsyncs: on a power-loss disk it must lose writes. */
const NEVER_FSYNCED = fileURLToPath(new URL("../../fixtures/power-loss/appendfsync-never.yaml", import.meta.url));

const disk = powerLossDisksProvided ? [POWER_LOSS_DISK] : [];
if (!clusterUnavailable && !powerLossDisksProvided)
  console.warn(
    "[node-crash] this cluster has no power-loss disks (Go builds tools/lazydisk when the harness starts its cluster): node crashes keep the host's page cache, so they are process crashes of every pod on the node, not power losses",
  );

/**
 * Nodes crash under the primary and under a replica (the node's container killed and
 * started again) while the acknowledged-write ledger runs. On the harness's own cluster
 * the release's volumes are on power-loss disks: a crash loses what was never synced, as
 * a machine losing power does. A crashed node takes every pod on it, so this project runs
 * alone, after the others, one crash at a time.
 */
const results: ScenarioResult[] = [];

/** Runs a crash scenario, keeps its result for the durability report and prints it. */
async function crashed(env: string, run: () => Promise<ScenarioResult>): Promise<ScenarioResult> {
  const result = await run();
  results.push(result);
  console.log(
    `[durability ${env} ${result.profile}] ${result.scenario}: ${JSON.stringify({ ...result, timeline: undefined })}`,
  );
  return result;
}

function skipUnlessCrashable(env: string, cluster: Cluster, skip: (note: string) => void): void {
  if (!cluster.nodeControl)
    skip("crashes nodes: needs the harness's own cluster (VALKEY_KUBECONFIG clusters are not the harness's to crash)");
  // Off the server, a release whose pods each require a host of their own needs an agent per pod.
  const agents = cluster.nodeControl?.nodes.filter((n) => n.role === "agent").length ?? 0;
  const pods = Number(environmentValues(env).valkey.replica.replicas) + 1;
  if (environmentHas(env, "requiredAntiAffinity") && pods > agents)
    skip(
      `${env}'s ${pods} pods each require a node of their own off the server, and this cluster has ${agents} agent(s): start one with VALKEY_CLUSTER_AGENTS=${pods}`,
    );
}

describe
  .skipIf(!!clusterUnavailable)
  .each(
    environmentsOf("VALKEY_FAILOVER_ENVS").flatMap((env) =>
      setting("VALKEY_NODE_CRASH_PROFILES").map((profile) => ({ env, profile })),
    ),
  )("$env with persistence profile $profile, its node crashing", ({ env, profile: name }) => {
  const profile = readProfile(name);
  test.override({
    env,
    install: { instance: `node-${name}`.slice(0, 20), extraValuesFiles: [profile.valuesFile, OFF_THE_SERVER, ...disk] },
  });

  afterAll(() =>
    recordDurability(
      env,
      inject("runId"),
      results.filter((r) => r.env === env && r.profile === name),
    ),
  );

  test.beforeEach(({ cluster, skip }) => skipUnlessCrashable(env, cluster, skip));

  test("loses only what the profile allows when the primary's node crashes (losing power where its disk can), and recovers when the node returns", async ({
    cluster,
    release,
  }) => {
    const result = await crashed(env, () =>
      primaryNodeCrash({ cluster, release, profile, log: (line) => console.log(line) }),
    );
    if (powerLossDisksProvided) expect(result.scenario).toBe("primary-node-lost-power");
    expect(result.lostBeyondPromiseTimeline, result.reason).toEqual([]);
    expect(result.verdict, result.reason).toBe("pass");
  });

  test("loses no acknowledged write when a replica's node crashes and returns", async ({ cluster, release }) => {
    const result = await crashed(env, () =>
      replicaNodeCrash({ cluster, release, profile, log: (line) => console.log(line) }),
    );
    if (powerLossDisksProvided) expect(result.scenario).toBe("replica-node-lost-power");
    expect(result.lostBeyondPromiseTimeline, result.reason).toEqual([]);
    expect(result.verdict, result.reason).toBe("pass");
  });
});

const demonstrationEnv = environmentsOf("VALKEY_FAILOVER_ENVS")[0] ?? "dev-01";

describe.skipIf(!!clusterUnavailable)(
  `${demonstrationEnv}: the power-loss disk loses what was never synced (the crash rows can fail)`,
  () => {
    const profile = readProfileFile(NEVER_FSYNCED);
    test.override({
      env: demonstrationEnv,
      install: { instance: "node-never-fsynced", extraValuesFiles: [profile.valuesFile, OFF_THE_SERVER, ...disk] },
    });

    afterAll(() =>
      recordDurability(
        demonstrationEnv,
        inject("runId"),
        results.filter((r) => r.env === demonstrationEnv && r.profile === profile.name),
      ),
    );

    test.beforeEach(({ cluster, skip }) => {
      if (!powerLossDisksProvided) {
        const why =
          "needs power-loss disks: the harness builds tools/lazydisk with Go when it starts its cluster (install Go, or run on a machine that has it)";
        if (process.env.CI === "true") throw new Error(`the cluster has no power-loss disks; this suite ${why}`);
        skip(why);
      }
      skipUnlessCrashable(demonstrationEnv, cluster, skip);
    });

    test("appendfsync no loses the acknowledged writes the kernel had not written back when the primary's node loses power", async ({
      cluster,
      release,
    }) => {
      const result = await crashed(demonstrationEnv, () =>
        primaryNodeCrash({ cluster, release, profile, log: (line) => console.log(line) }),
      );
      expect(result.scenario).toBe("primary-node-lost-power");
      expect(
        result.lost,
        `the power-loss disk kept every write Valkey never fsynced (${result.acknowledged} acknowledged): it did not lose power`,
      ).toBeGreaterThan(0);
      expect(result.lostBeyondPromiseTimeline, result.reason).toEqual([]);
    });
  },
);
