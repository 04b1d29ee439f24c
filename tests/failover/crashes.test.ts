import { afterAll, describe, expect, inject } from "vitest";
import { environmentsOf } from "../../src/chart/values.ts";
import { allowedToLose, type PersistenceAtCrash, readProfile } from "../../src/durability/profiles.ts";
import { recordDurability } from "../../src/durability/report.ts";
import {
  killDuringResync,
  primaryProcessKill,
  primaryVolumeLost,
  replicasProcessKill,
  replicaVolumeLost,
  type ScenarioContext,
  type ScenarioResult,
} from "../../src/durability/scenarios.ts";
import { setting } from "../../src/settings.ts";
import { clusterUnavailable, test } from "../support/fixtures.ts";

/**
 * Crashes, not polite deletes: for each persistence profile (VALKEY_DURABILITY_PROFILES)
 * a release of its own takes every crash in turn while the acknowledged-write ledger
 * runs, and each loss is judged against the profile's promise. Profiles run side by side;
 * the crashes of one release one after another, the volume of the primary lost last.
 */
const results: ScenarioResult[] = [];

describe
  .skipIf(!!clusterUnavailable)
  .concurrent.each(
    environmentsOf("VALKEY_FAILOVER_ENVS").flatMap((env) =>
      setting("VALKEY_DURABILITY_PROFILES").map((profile) => ({ env, profile })),
    ),
  )("$env with persistence profile $profile", ({ env, profile: name }) => {
  const profile = readProfile(name);
  test.override({ env, install: { instance: `crash-${name}`.slice(0, 20), extraValuesFiles: [profile.valuesFile] } });

  afterAll(() =>
    recordDurability(
      env,
      inject("runId"),
      results.filter((r) => r.env === env && r.profile === name),
    ),
  );

  const scenario = (title: string, run: (context: ScenarioContext) => Promise<ScenarioResult>) =>
    test(title, async ({ cluster, release, skip }) => {
      if (!cluster.nodeControl) skip("kills processes through the nodes' containerd: needs the harness's own cluster");
      const result = await run({ cluster, release, profile, log: (line) => console.log(line) });
      results.push(result);
      console.log(
        `[durability ${env} ${name}] ${result.scenario}: ${JSON.stringify({ ...result, timeline: undefined })}`,
      );
      expect(result.lostBeyondPromiseTimeline, `${result.reason}; the lost writes (epoch ms)`).toEqual([]);
      expect(result.verdict, result.reason).not.toBe("fail");
    });

  describe("one crash after another", { concurrent: false }, () => {
    scenario(
      "loses no acknowledged write when every replica's process is killed; writes are refused with NOREPLICAS meanwhile and resume",
      replicasProcessKill,
    );
    scenario(
      "loses only what the profile allows when the primary's process is killed (SIGKILL, no shutdown save)",
      primaryProcessKill,
    );
    scenario(
      "loses only what the profile allows when the primary is killed during a replica's full resync",
      killDuringResync,
    );
    scenario(
      "loses no acknowledged write when a replica's volume is lost: it resynchronises in full",
      replicaVolumeLost,
    );
    scenario(
      "converges when the primary's volume is lost, and reports what survives (no profile protects it)",
      primaryVolumeLost,
    );
  });
});

describe.skipIf(!!clusterUnavailable)("the durability verdicts", () => {
  test("fail when a profile promises more than its setting keeps: aof-always's promise judged on the upstream default's measured primary crash", ({
    skip,
  }) => {
    const measured = results.find(
      (r) => r.profile === "rdb-upstream-default" && r.scenario === "primary-process-killed",
    );
    if (!measured || !setting("VALKEY_DURABILITY_PROFILES").includes("aof-always")) {
      skip("needs the rdb-upstream-default and aof-always profiles in VALKEY_DURABILITY_PROFILES");
      return;
    }
    expect(measured.lost, "acknowledged writes upstream's default lost to the primary's crash").toBeGreaterThan(0);
    const always = readProfile("aof-always");
    const beyond = measured.lostWrites.filter(
      (lost) => !allowedToLose(always.promise, lost, measured.persistenceAtCrash as PersistenceAtCrash),
    );
    expect(beyond.length, "lost writes aof-always's promise does not allow").toBe(measured.lost);
  });

  test("bound the append-only file's window from below: the upstream default's measured primary crash, judged by aof-everysec's last-seconds promise, fails on the writes acknowledged well before the kill", ({
    skip,
  }) => {
    const measured = results.find(
      (r) => r.profile === "rdb-upstream-default" && r.scenario === "primary-process-killed",
    );
    if (!measured) {
      skip("needs the rdb-upstream-default profile in VALKEY_DURABILITY_PROFILES");
      return;
    }
    const crash = measured.persistenceAtCrash as PersistenceAtCrash;
    const everysec = readProfile("aof-everysec");
    const seconds = everysec.promise.loses === "last-seconds" ? everysec.promise.seconds : 0;
    const beyond = measured.lostWrites.filter((lost) => !allowedToLose(everysec.promise, lost, crash));
    const early = measured.lostWrites.filter((lost) => lost.acknowledgedAt < crash.crashAt - seconds * 1000);
    expect(early.length, "writes upstream's default lost that were acknowledged before the window").toBeGreaterThan(0);
    expect(beyond, "every one of them falls outside the window").toEqual(expect.arrayContaining(early));
  });
});
