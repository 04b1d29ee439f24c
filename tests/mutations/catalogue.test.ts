import { afterAll, describe } from "vitest";
import type { Release } from "../../src/chart/release.ts";
import { featuresOf } from "../../src/chart/values.ts";
import { CHECKS, CheckNotApplicable, expectedOf, termsOf, unmetRequirement } from "../../src/checks/index.ts";
import { profileFile } from "../../src/environments.ts";
import {
  affected,
  type Batch,
  INSTALL_CHECK,
  planBatches,
  prepareBatch,
  readCatalogue,
} from "../../src/mutations/catalogue.ts";
import { markdownTable, writeReport } from "../../src/report/index.ts";
import { setting } from "../../src/settings.ts";
import { clusterUnavailable, type ReleaseRequest, test } from "../support/fixtures.ts";

const environments = setting("VALKEY_ENVS");
const chosen = setting("VALKEY_MUTATIONS");
const batches = planBatches(readCatalogue().filter((m) => environments.includes(m.env) && chosen.includes(m.id)));

interface CheckRun {
  check: string;
  failed: boolean;
  message: string;
  seconds: number;
}

interface Row {
  mutation: string;
  description: string;
  env: string;
  caughtBy: string | null;
  message: string;
  alsoFailed: string[];
  checksRan: string[];
  batch: string;
  batchSeconds: number;
}
const rows: Row[] = [];
const started = performance.now();

/** Installs a batch of mutations, runs the checks that bear on them, and says what caught what. */
async function runBatch(
  batch: Batch,
  releases: { get(r: ReleaseRequest): Promise<Release>; uninstall(r: ReleaseRequest): Promise<void> },
  context: Omit<Parameters<(typeof CHECKS)[number]["run"]>[0], "release" | "expected">,
) {
  const label = `[mutations ${batch.env}: ${batch.mutations.map((m) => m.id).join(", ")}]`;
  const { chartDir, valuesFile } = await prepareBatch(batch);
  const request: ReleaseRequest = {
    env: batch.env,
    chartDir,
    // The mutated copy declares what the checks expect: a changed environment file is what
    // the pull request says, and only the platform's contract may refuse it.
    declaredChartDir: chartDir,
    profiles: batch.profiles.map(profileFile),
    extraValuesFiles: [valuesFile],
    unenforcedNamespace: batch.mutations.some((m) => m.unenforcedNamespace),
  };
  const runs: CheckRun[] = [];
  const batchStarted = performance.now();
  let release: Release | undefined;
  try {
    const installStarted = performance.now();
    try {
      release = await releases.get(request);
      runs.push({
        check: INSTALL_CHECK,
        failed: false,
        message: "",
        seconds: (performance.now() - installStarted) / 1000,
      });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      runs.push({ check: INSTALL_CHECK, failed: true, message, seconds: (performance.now() - installStarted) / 1000 });
      // An install no mutation expected to fail: everything an engineer needs (pods, events, logs, values).
      if (!batch.mutations.some((m) => m.catches === INSTALL_CHECK)) {
        const cause = (error as { cause?: Error }).cause;
        console.error(`${label} the install failed:\n${cause?.message ?? message}`);
      }
    }
    if (release) {
      const expected = expectedOf(release);
      const features = featuresOf(release.declared);
      const named = new Set(batch.mutations.flatMap(affected));
      // Every check that only reads, and those that delete pods when a mutation of the batch names them.
      const bearing = CHECKS.filter(
        (c) =>
          !c.notApplicable?.(features, termsOf({ contract: context.contract, release: release as Release })) &&
          (!c.disruptive || named.has(c.id)) &&
          !unmetRequirement(c, context),
      );
      for (const check of bearing) {
        const checkStarted = performance.now();
        try {
          await check.run({ ...context, release, expected });
          runs.push({
            check: check.id,
            failed: false,
            message: "",
            seconds: (performance.now() - checkStarted) / 1000,
          });
        } catch (error) {
          // A check that could not judge this install did not run: a mutation it should catch is then reported as not caught.
          if (error instanceof CheckNotApplicable) continue;
          const message = error instanceof Error ? error.message : String(error);
          runs.push({ check: check.id, failed: true, message, seconds: (performance.now() - checkStarted) / 1000 });
        }
        const last = runs.at(-1) as CheckRun;
        context.log(
          `${label} ${check.id}: ${last.failed ? `FAILED: ${last.message.split("\n")[0]}` : "passed"} (${last.seconds.toFixed(1)} s)`,
        );
      }
    }
  } finally {
    await releases.uninstall(request).catch((error: Error) => console.error(`${label} cleanup: ${error.message}`));
  }
  const batchSeconds = Math.round((performance.now() - batchStarted) / 1000);
  const problems: string[] = [];
  const expectedFailures = new Set(batch.mutations.flatMap(affected));
  for (const mutation of batch.mutations) {
    const run = runs.find((r) => r.check === mutation.catches);
    const caught = !!run?.failed && mutation.message.test(run.message);
    if (!run)
      problems.push(
        `mutation ${mutation.id} (${mutation.description}) was not caught: its check ${mutation.catches} did not run (the install failed: ${runs[0]?.message.split("\n")[0]})`,
      );
    else if (!run.failed)
      problems.push(
        `mutation ${mutation.id} (${mutation.description}) was not caught: check ${mutation.catches} passed`,
      );
    else if (!caught)
      problems.push(
        `mutation ${mutation.id}: check ${mutation.catches} failed, but its message does not match /${mutation.message.source}/: ${run.message.split("\n")[0]}`,
      );
    for (const other of mutation.alsoFails) {
      const otherRun = runs.find((r) => r.check === other);
      if (otherRun && !otherRun.failed)
        problems.push(`mutation ${mutation.id} says it also breaks ${other}, which passed: remove it from alsoFails`);
    }
    rows.push({
      mutation: mutation.id,
      description: mutation.description,
      env: batch.env,
      caughtBy: caught ? mutation.catches : null,
      message: run?.message.split("\n")[0] ?? "",
      alsoFailed: mutation.alsoFails.filter((c) => runs.find((r) => r.check === c)?.failed),
      checksRan: runs.map((r) => r.check),
      batch: batch.mutations.map((m) => m.id).join(", "),
      batchSeconds,
    });
  }
  for (const run of runs) {
    if (run.failed && !expectedFailures.has(run.check)) {
      problems.push(
        `check ${run.check} failed although no mutation of the batch names it (interference, or a broken check): ${run.message.split("\n")[0]}`,
      );
    }
  }
  return problems;
}

describe.skipIf(!!clusterUnavailable)("every check fails against a chart that breaks its promise", () => {
  afterAll(() => {
    if (rows.length === 0) return;
    const totalSeconds = Math.round((performance.now() - started) / 1000);
    const table = markdownTable(
      ["mutation", "environment", "caught by", "its message", "also failed (declared)"],
      rows.map((r) => [
        `${r.mutation}: ${r.description}`,
        r.env,
        r.caughtBy ?? "**NOT CAUGHT**",
        r.message,
        r.alsoFailed.join(", "),
      ]),
    );
    const markdown = `### Mutations: ${rows.filter((r) => r.caughtBy).length} of ${rows.length} caught in ${totalSeconds} s (${batches.length} installs)\n\n${table}`;
    const written = writeReport("mutations", { totalSeconds, installs: batches.length, rows }, markdown);
    console.log(`[mutations] ${written.markdown}\n${markdown}`);
  });

  test.concurrent.for(
    batches.map((batch) => ({ batch, name: `${batch.env}: ${batch.mutations.map((m) => m.id).join(", ")}` })),
  )("$name", async ({ batch }, { cluster, releases, namespaces, monitoring, contract, expect }) => {
    const problems = await runBatch(batch, releases, {
      cluster,
      namespaces,
      monitoring,
      contract,
      log: (line) => console.log(line),
    });
    expect(problems, "mutations not caught as their catalogue entries say").toEqual([]);
  });
});
