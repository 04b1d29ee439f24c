import { defineConfig } from "vitest/config";

/** Removes the scratch directories (src/files.ts) a test file made, after it. */
const setupFiles = ["tests/support/scratch.setup.ts"];
/** Builds the suites' Helm once, before the workers start: VALKEY_HELM's choice (and both majors for unit and chart). */
const helmSetup = "tests/support/helm.global.ts";
const helmBothSetup = "tests/support/helm-both.global.ts";

const integration = {
  setupFiles,
  // One cluster serves every integration project of a run.
  globalSetup: [helmSetup, "tests/support/cluster.global.ts"],
  testTimeout: 600_000,
  hookTimeout: 900_000,
};

/** An integration project; projects of one `order` run side by side, orders one after another (groupOrder). */
const suite = (name: string, order: number, extra: Record<string, unknown> = {}) => ({
  test: { name, include: [`tests/${name}/**/*.test.ts`], ...integration, sequence: { groupOrder: order }, ...extra },
});

export default defineConfig({
  test: {
    // A reporters list replaces vitest's defaults: on GitHub Actions the annotations of
    // failures on the pull request come from the github-actions reporter, named here.
    reporters: [
      "default",
      "./tests/support/timing-reporter.ts",
      ...(process.env.GITHUB_ACTIONS === "true" ? ["github-actions"] : []),
    ],
    // Integration projects of one group order run side by side: they wait on Kubernetes far
    // more than they compute, each in namespaces of its own.
    maxWorkers: 8,
    projects: [
      // Unit tests and chart renders run beside the first group instead of before it: the
      // cluster's start (global setup) holds back every project, so they would add their time.
      // Beside the cluster's start a unit test that spawns git or go measured over vitest's
      // default 5 s (5.1 s in a --fresh-cache run): 30 s still catches a hang.
      {
        test: {
          name: "unit",
          include: ["tests/unit/**/*.test.ts"],
          testTimeout: 30_000,
          setupFiles,
          globalSetup: [helmBothSetup],
          sequence: { groupOrder: 1 },
        },
      },
      {
        test: {
          name: "chart",
          include: ["tests/chart/**/*.test.ts"],
          testTimeout: 120_000,
          setupFiles,
          globalSetup: [helmBothSetup],
          sequence: { groupOrder: 1 },
        },
      },
      // Groups run one after another; the projects of a group side by side. More at once
      // than this starves the 2 cores: kubelet's 1 s liveness probes then time out and
      // restart Valkey containers mid-test (seen).
      suite("cluster", 1),
      suite("install", 1),
      // Mutation batches install side by side, three at a time; the upgrade walk beside them
      // (its verdicts are writes lost, predictions and settings, not latency figures).
      suite("mutations", 2, { maxConcurrency: 3 }),
      // The server-setting walk beside the mutation batches. The walks judged against the
      // contract's budgets (the version matrix, the RDB-to-AOF walk) are projects of their
      // own (below): beside the batches prod-01's steps measured 27.7-36.6 s of writes
      // unavailable against 30 s, the machine's contention, not the chart's.
      suite("upgrade", 2, {
        testTimeout: 1_200_000,
        exclude: ["tests/upgrade/matrix.test.ts", "tests/upgrade/from-rdb.test.ts"],
      }),
      // dev-01 serving TLS, every install check through TLS clients: beside the mutation
      // batches, whose verdicts (like these) are not latency figures.
      suite("tls", 2),
      // Scales a release under the acknowledged writer and a cache load: alone. Beside the
      // upgrade walks it pushed prod-01's step over the contract's 30 s of load errors (33 s).
      suite("scaling", 3),
      // Backs a release up and restores it into another: two dev-01 releases, no disruption
      // of anyone else's, so beside scaling.
      suite("backup", 3),
      // Measures how long writes stop and what crashes lose, against the contract's budgets:
      // three releases at a time per file. At four, a clean-clone run measured prod-01's
      // primary back after 26.7 s (17.2 s in the run before) and 31.1 s without writes
      // (budget 30), with client commands timing out: the machine's contention.
      suite("failover", 4, { maxConcurrency: 3 }),
      // Crashes agent nodes, which takes every pod on them: alone.
      suite("node-crash", 5),
      // Restarts the server node, which no other suite may see: alone, last.
      suite("node-restart", 6),
      // Opt-in (npm run bench): alone, so nothing else competes for the 2 cores it measures.
      // Every workload on every path, runs x paths bounded each: about 12 min on 2 cores.
      suite("bench", 7, { testTimeout: 2_400_000 }),
      // Opt-in (npm run test:cluster-upgrade): upgrades every node of the cluster, alone.
      suite("cluster-upgrade", 8),
      // Opt-in (npm run test:upgrade:matrix; upgrade.yml weekly): every cached upstream version
      // in a row under load, judged against the contract's budgets, alone. Beside the
      // mutation batches two of its hops measured 30.7 and 32.7 s of writes unavailable
      // (budget 30 s): the machine's contention, not the chart's, so it runs where nothing
      // else competes, outside the full tier.
      {
        test: {
          name: "upgrade-matrix",
          include: ["tests/upgrade/matrix.test.ts"],
          ...integration,
          testTimeout: 1_200_000,
          sequence: { groupOrder: 10 },
        },
      },
      // Opt-in (npm run test:upgrade:from-rdb; upgrade.yml on chart pull requests and weekly):
      // every environment from the last RDB-only wrapper to the worktree under load, judged
      // against the contract's budgets, alone.
      {
        test: {
          name: "upgrade-from-rdb",
          include: ["tests/upgrade/from-rdb.test.ts"],
          ...integration,
          testTimeout: 1_200_000,
          sequence: { groupOrder: 11 },
        },
      },
      // Interrupts runs of their own (each starts its own cluster): alone, last, and without
      // the shared cluster's setup, which it does not use.
      {
        test: {
          name: "interrupts",
          include: ["tests/interrupts/**/*.test.ts"],
          setupFiles,
          testTimeout: 900_000,
          sequence: { groupOrder: 9 },
        },
      },
    ],
  },
});
