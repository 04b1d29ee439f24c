import { KubernetesObjectApi } from "@kubernetes/client-node";
import { describe, expect } from "vitest";
import { GITOPS_FIELD_MANAGER } from "../../src/chart/gitops.ts";
import { environmentsOf } from "../../src/chart/values.ts";
import { clusterUnavailable, test } from "../support/fixtures.ts";
import { describeChecksOfInstalled } from "../support/install-checks.ts";

/**
 * The GitOps render path: an environment rendered with `helm template` for the cluster's
 * version and API groups, test hooks left out, every object applied server-side under one
 * field manager (what Argo CD does), then every install check, as for `helm install`.
 */
const gitopsEnvironments = environmentsOf("VALKEY_GITOPS_ENVS");
if (gitopsEnvironments.length === 0)
  describe("the GitOps render path", () => {
    test.skip("is not run: VALKEY_GITOPS_ENVS names no environment", () => {});
  });

describe.skipIf(!!clusterUnavailable).concurrent.each(gitopsEnvironments)(
  "environment %s delivered the GitOps way (helm template for the cluster, server-side apply)",
  (env) => {
    test.override({ env, install: { delivery: "gitops" } });

    test(`has no Helm release on the cluster, and every object it applied is managed by ${GITOPS_FIELD_MANAGER} through server-side apply`, async ({
      release,
      cluster,
    }) => {
      const helmReleases = await cluster.kube.core.listNamespacedSecret({
        namespace: release.namespace,
        labelSelector: "owner=helm",
      });
      expect(helmReleases.items.map((s) => s.metadata?.name)).toEqual([]);
      expect(release.applied.map((o) => o.kind)).toEqual(
        expect.arrayContaining(["StatefulSet", "Service", "ConfigMap"]),
      );
      const objects = KubernetesObjectApi.makeApiClient(cluster.kube.config);
      for (const o of release.applied) {
        const live = await objects.read({
          apiVersion: o.apiVersion,
          kind: o.kind,
          metadata: { name: o.name, namespace: o.namespace },
        });
        const appliers = (live.metadata?.managedFields ?? [])
          .filter((f) => f.operation === "Apply")
          .map((f) => f.manager);
        expect(appliers, `${o.kind}/${o.name}`).toContain(GITOPS_FIELD_MANAGER);
      }
    });

    describeChecksOfInstalled(env);
  },
);
