import { afterAll, describe } from "vitest";
import { environments } from "../../src/environments.ts";
import { UPGRADE_SCHEMA, type UpgradeReport, writeUpgradeReport } from "../../src/report/upgrade.ts";
import { clusterUnavailable, test } from "../support/fixtures.ts";
import { walkAndReport } from "../support/walks.ts";

/**
 * The last wrapper that ran upstream's RDB-only persistence (the commit before the
 * append-only default, ca265c4). Upgrading a release it made to today's wrapper emptied the
 * release at the first restart (Valkey started from an empty append-only file, ignoring its
 * RDB file: 952 of 1,103 acknowledged writes and the whole dataset gone from every pod);
 * the wrapper's init container now converts the data directory first.
 */
export const LAST_RDB_ONLY_WRAPPER = "8475472";

const report: UpgradeReport = {
  schema: UPGRADE_SCHEMA,
  createdAt: new Date().toISOString(),
  helm: "",
  walks: [],
  steps: [],
};

describe.skipIf(!!clusterUnavailable)(
  `every environment made by the last RDB-only wrapper (${LAST_RDB_ONLY_WRAPPER}) and upgraded to the working tree`,
  () => {
    afterAll(() => {
      if (report.steps.length === 0) return;
      const paths = writeUpgradeReport(report, "upgrade-from-rdb");
      console.log(`[upgrade] report: ${paths.markdown}`);
    });

    test.concurrent.for(environments())(
      "%s keeps every key and every acknowledged write on every pod through the upgrade that turns the append-only file on, and back, and every step passes its verdict",
      async (env, { cluster, helm, namespaces, monitoring, contract, onTestFailed }) => {
        await walkAndReport(
          { cluster, helm, namespaces, monitoring, contract, onTestFailed },
          env,
          [LAST_RDB_ONLY_WRAPPER, "worktree"],
          report,
          "from-rdb",
        );
      },
    );
  },
);
