import { afterAll, describe } from "vitest";
import type { Release } from "../../src/chart/release.ts";
import { environments } from "../../src/environments.ts";
import { UPGRADE_SCHEMA, type UpgradeReport, writeUpgradeReport } from "../../src/report/upgrade.ts";
import { type Revision, resolveRevision } from "../../src/upgrade/revision.ts";
import { type WalkResult, walkUpgrade } from "../../src/upgrade/walk.ts";
import { clusterUnavailable, test } from "../support/fixtures.ts";

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
      "%s keeps every key and every acknowledged write on every pod through the upgrade that turns the append-only file on, and back",
      async (env, { cluster, helm, namespaces, monitoring, contract, onTestFailed }) => {
        report.helm = String(helm);
        const revisions: Revision[] = [await resolveRevision(LAST_RDB_ONLY_WRAPPER), await resolveRevision("worktree")];
        const namespace = `from-rdb-${env}-${Math.random().toString(36).slice(2, 7)}`;
        const log = (line: string) => console.log(line);
        let release: Release | undefined;
        onTestFailed(async () => {
          if (release) console.error(await release.diagnostics());
        });
        let result: WalkResult | undefined;
        try {
          result = await walkUpgrade(
            { helm, cluster, namespaces, monitoring, contract, log },
            env,
            revisions,
            namespace,
            (r) => {
              release = r;
            },
          );
        } finally {
          if (result) {
            report.walks.push({
              env,
              revisions: revisions.map((r) => r.label),
              contractFile: result.contractFile,
              contractChanges: result.contractChanges,
            });
            report.steps.push(...result.steps);
          }
          await release
            ?.uninstall()
            .catch((error: Error) => console.error(`[from-rdb ${env}] cleanup: ${error.message}`));
          await cluster.kube
            .deleteNamespace(namespace)
            .catch((error: Error) => console.error(`[from-rdb ${env}] cleanup: ${error.message}`));
        }
        if (result.failures.length > 0)
          throw new Error(
            `the upgrade of ${env} from the last RDB-only wrapper failed:\n- ${result.failures.join("\n- ")}`,
          );
      },
    );
  },
);
