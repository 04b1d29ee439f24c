import { beforeAll, describe, expect, test } from "vitest";
import { Helm } from "../../src/chart/helm.ts";
import { type Manifest, renderChart, stageChart } from "../../src/chart/wrapper.ts";
import { environmentValuesFile, profileFile } from "../../src/environments.ts";
import { valuesFile } from "../support/values-file.ts";

let helm: Helm;
let chart: string;
const hookOf = async (env: string, extra: string[] = []) =>
  (await renderChart(helm, chart, { valuesFiles: [environmentValuesFile(env), ...extra] })).find(
    (m: Manifest) => m.metadata.annotations?.["helm.sh/hook"] === "test",
  );

describe("the chart's helm test hook", () => {
  beforeAll(async () => {
    helm = await Helm.resolve("4");
    chart = await stageChart(helm);
  });

  test("is a client the environment's NetworkPolicy admits, outside the release's own selector, without a token", async () => {
    const hook = await hookOf("prod-01");
    expect(hook?.metadata.labels?.["valkey-client"]).toBe("true");
    expect(hook?.metadata.labels?.["app.kubernetes.io/name"]).not.toBe("valkey");
    expect(hook?.spec.automountServiceAccountToken).toBe(false);
    expect(hook?.spec.containers[0].env[0].valueFrom.secretKeyRef).toEqual({ name: "valkey-users", key: "default" });
  });

  test("waits for as many replicas as the environment requires and reads every replica", async () => {
    const script = (await hookOf("prod-01"))?.spec.containers[0].args[0] as string;
    expect(script).toContain("wait 2 5000");
    expect(script).toContain("-le 3 ]");
  });

  test("is left out where the policy admits namespaces only (no label a test pod could carry)", async () => {
    const namespacesOnly = valuesFile("namespaces-only", "networkPolicy:\n  allowedPodLabels: []\n");
    expect(await hookOf("prod-01", [namespacesOnly])).toBeUndefined();
  });

  test("speaks TLS with the release's CA where the profile turns TLS on, and plaintext elsewhere", async () => {
    const hook = await hookOf("dev-01", [profileFile("tls")]);
    const script = hook?.spec.containers[0].args[0] as string;
    expect(script).toContain("--tls --cacert /tls/ca.crt");
    expect(script).not.toContain("--cert ");
    expect(hook?.spec.containers[0].volumeMounts).toEqual([{ name: "tls", mountPath: "/tls", readOnly: true }]);
    expect(hook?.spec.volumes).toEqual([{ name: "tls", secret: { secretName: "valkey-tls-certificates" } }]);
    const plain = await hookOf("dev-01");
    expect(plain?.spec.containers[0].args[0]).not.toContain("--tls");
    expect(plain?.spec.volumes).toBeUndefined();
  });
});
