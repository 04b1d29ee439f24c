import { cpSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect } from "vitest";
import { parseDocument } from "yaml";
import { installRelease, type Release } from "../../src/chart/release.ts";
import { cachedUpstreamVersions } from "../../src/chart/upstream.ts";
import { converge } from "../../src/durability/scenarios.ts";
import { WRAPPER_CHART } from "../../src/environments.ts";
import { scratchDir } from "../../src/files.ts";
import { predictRollout } from "../../src/upgrade/prediction.ts";
import { rollingRestart } from "../../src/upgrade/rollout.ts";
import { settingsInEffect } from "../../src/upgrade/settings-in-effect.ts";
import { clusterUnavailable, test } from "../support/fixtures.ts";

/** A copy of the wrapper whose defaults add one server directive: a values-only pull request. */
function wrapperWithDirective(directive: string): string {
  const dir = join(scratchDir("wrapper-config-change-"), "valkey");
  cpSync(WRAPPER_CHART, dir, { recursive: true });
  const file = join(dir, "values.yaml");
  const doc = parseDocument(readFileSync(file, "utf8"));
  doc.setIn(["valkey", "valkeyConfig"], `${doc.getIn(["valkey", "valkeyConfig"])}${directive}\n`);
  writeFileSync(file, doc.toString());
  return dir;
}

/**
 * Upstream 0.9.0 renders a changed server configuration into its ConfigMap but nothing
 * in the pod template changes (0.9.3 added a checksum annotation), so the pods keep the
 * old configuration: "rendered" is not "in effect". The settings read back after an
 * upgrade must say so; this is that check failing against a real upstream defect.
 */
describe.skipIf(!!clusterUnavailable || !cachedUpstreamVersions().includes("0.9.0"))(
  "a server setting changed on upstream 0.9.0",
  () => {
    test("is predicted not to restart the pods, does not, and config.server-settings reports it not in effect until a rolling restart", async ({
      cluster,
      helm,
      namespaces,
      monitoring,
      contract,
      onTestFailed,
    }) => {
      const namespace = `config-change-${Math.random().toString(36).slice(2, 7)}`;
      let release: Release | undefined;
      onTestFailed(async () => {
        if (release) console.error(await release.diagnostics());
      });
      const context = { cluster, namespaces, monitoring, contract, log: (line: string) => console.log(line) };
      try {
        await cluster.kube.createNamespace(namespace);
        const r = await installRelease(helm, cluster, { env: "dev-01", namespace, upstreamVersion: "0.9.0" });
        release = r;
        // dev-01 runs allkeys-lru (serverConfig.maxmemoryPolicy): another policy, so that the change shows.
        const changed = wrapperWithDirective("maxmemory-policy volatile-lru");
        const before = await r.target();
        const after = await r.target({ chartDir: changed, upstreamVersion: "0.9.0" });
        const prediction = await predictRollout(helm, before, after, r.name, r.namespace);
        expect(prediction.kind, prediction.reason).toBe("no-restart");
        expect(prediction.otherChanges).toContain(`ConfigMap/${r.fullname}-config changed`);

        const uids = (await cluster.kube.pods(namespace, r.labelSelector)).map((p) => p.metadata?.uid).sort();
        await r.upgrade({ chartDir: changed, upstreamVersion: "0.9.0" });
        const uidsAfter = (await cluster.kube.pods(namespace, r.labelSelector)).map((p) => p.metadata?.uid).sort();
        expect(uidsAfter, "no pod was replaced by the upgrade").toEqual(uids);

        const verdicts = await settingsInEffect(r, context);
        const server = verdicts.find((v) => v.check === "config.server-settings");
        expect(server?.result, JSON.stringify(server)).toBe("fail");
        expect(server?.message).toContain("maxmemory-policy");
        expect(verdicts.filter((v) => v.result === "fail").map((v) => v.check)).toEqual(["config.server-settings"]);

        await rollingRestart(r);
        await converge({ release: r, cluster, log: context.log });
        const restarted = await settingsInEffect(r, context);
        expect(restarted.filter((v) => v.result === "fail")).toEqual([]);
      } finally {
        await release?.uninstall().catch((error: Error) => console.error(`[config-change] cleanup: ${error.message}`));
        await cluster.kube
          .deleteNamespace(namespace)
          .catch((error: Error) => console.error(`[config-change] cleanup: ${error.message}`));
      }
    });
  },
);
