import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, inject } from "vitest";
import { environmentHas, environmentsOf, environmentValues } from "../../src/chart/values.ts";
import { readProfile } from "../../src/durability/profiles.ts";
import { recordDurability } from "../../src/durability/report.ts";
import { primaryNodeCrash, replicaNodeCrash, type ScenarioResult } from "../../src/durability/scenarios.ts";
import { setting } from "../../src/settings.ts";
import { clusterUnavailable, test } from "../support/fixtures.ts";

/** Keeps the release off the server node: crashing it would take the API with it. */
const OFF_THE_SERVER = fileURLToPath(new URL("../../fixtures/scenarios/off-the-server.yaml", import.meta.url));

/**
 * Nodes crash under the primary and under a replica (the node's container killed and
 * started again) while the acknowledged-write ledger runs. A crashed node takes every pod
 * on it, so this project runs alone, after the others, one crash at a time.
 */
const results: ScenarioResult[] = [];

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
    install: { instance: `node-${name}`.slice(0, 20), extraValuesFiles: [profile.valuesFile, OFF_THE_SERVER] },
  });

  afterAll(() =>
    recordDurability(
      env,
      inject("runId"),
      results.filter((r) => r.env === env && r.profile === name),
    ),
  );

  test.beforeEach(({ cluster, skip }) => {
    if (!cluster.nodeControl)
      skip(
        "crashes nodes: needs the harness's own cluster (VALKEY_KUBECONFIG clusters are not the harness's to crash)",
      );
    // Off the server, a release whose pods each require a host of their own needs an agent per pod.
    const agents = cluster.nodeControl?.nodes.filter((n) => n.role === "agent").length ?? 0;
    const pods = Number(environmentValues(env).valkey.replica.replicas) + 1;
    if (environmentHas(env, "requiredAntiAffinity") && pods > agents)
      skip(
        `${env}'s ${pods} pods each require a node of their own off the server, and this cluster has ${agents} agent(s): start one with VALKEY_CLUSTER_AGENTS=${pods}`,
      );
  });

  test("loses only what the profile allows when the primary's node crashes, and recovers when the node returns", async ({
    cluster,
    release,
  }) => {
    const result = await primaryNodeCrash({ cluster, release, profile, log: (line) => console.log(line) });
    results.push(result);
    console.log(
      `[durability ${env} ${name}] ${result.scenario}: ${JSON.stringify({ ...result, timeline: undefined })}`,
    );
    expect(result.lostBeyondPromiseTimeline, result.reason).toEqual([]);
    expect(result.verdict, result.reason).toBe("pass");
  });

  test("loses no acknowledged write when a replica's node crashes and returns", async ({ cluster, release }) => {
    const result = await replicaNodeCrash({ cluster, release, profile, log: (line) => console.log(line) });
    results.push(result);
    console.log(
      `[durability ${env} ${name}] ${result.scenario}: ${JSON.stringify({ ...result, timeline: undefined })}`,
    );
    expect(result.lostBeyondPromiseTimeline, result.reason).toEqual([]);
    expect(result.verdict, result.reason).toBe("pass");
  });
});
