import { describe, expect } from "vitest";
import { issueCertificate, releaseDnsNames, serialOf, servedCertificateSerial } from "../../src/chart/tls.ts";
import { ledgerOnEveryPod, lostAnywhere, whereLost } from "../../src/durability/ledger.ts";
import { converge } from "../../src/durability/scenarios.ts";
import { profileFile } from "../../src/environments.ts";
import { rollingRestart } from "../../src/upgrade/rollout.ts";
import { AcknowledgedWriter } from "../../src/valkey/writer.ts";
import { clusterUnavailable, test } from "../support/fixtures.ts";
import { describeChecksOfInstalled } from "../support/install-checks.ts";

/** A key as a JSON Pointer segment (RFC 6901). */
const pointer = (key: string) => key.replaceAll("~", "~0").replaceAll("/", "~1");
const base64 = (text: string) => Buffer.from(text).toString("base64");

/** TLS in transit: upstream's tls.* on, certificates from the platform's certificate manager (here openssl). */
const TLS_PROFILE = profileFile("tls");

/**
 * dev-01 with the TLS profile: every install check, each through TLS clients that verify
 * the release's CA (the harness's Valkey clients, the chart's `helm test`, the exporters,
 * Prometheus through them), and access.tls: no plaintext listener, a stranger's CA
 * refused, replication over TLS. Then a certificate rotation.
 */
describe.skipIf(!!clusterUnavailable)("environment dev-01 serving TLS in transit (fixtures/profiles/tls.yaml)", () => {
  test.override({ env: "dev-01", install: { profiles: [TLS_PROFILE] } });
  describeChecksOfInstalled("dev-01", [TLS_PROFILE]);

  test("rotates its server certificate by a rolling restart (upstream 0.9.0 reloads none by itself): then every pod serves the new certificate to clients verifying the CA, and no acknowledged write is lost on any pod", async ({
    release,
    cluster,
  }) => {
    const log = (line: string) => console.log(line);
    const tls = release.tls;
    const client = release.clientTls;
    if (!tls || !client) throw new Error("the release was installed without the harness's certificates");
    await converge({ release, cluster, log });
    const { existingSecret, serverPublicKey, serverKey } = release.declared.valkey.tls;
    const rotated = await issueCertificate(
      tls.authority,
      "rotated",
      releaseDnsNames(release.fullname, release.namespace),
    );
    const before = await servedCertificateSerial(await release.endpoint(0), client);
    expect(before).not.toBe(serialOf(rotated.cert));

    const writer = new AcknowledgedWriter(await release.endpoint("primary"), release.clientCredentials, {
      prefix: `rotation:${Date.now().toString(36)}`,
      waitReplicas: Math.max(1, Number(release.declared.valkey?.replica?.minReplicasToWrite ?? 0)),
      waitTimeoutMs: 500,
      intervalMs: 20,
      maxWrites: 100_000,
      maxSeconds: 300,
    }).start();
    let report: Awaited<ReturnType<typeof writer.stop>>;
    const started = performance.now();
    try {
      await writer.acknowledgedSince(0, 50, 30_000);
      await cluster.kube.core.patchNamespacedSecret({
        name: existingSecret,
        namespace: release.namespace,
        body: [
          { op: "replace", path: `/data/${pointer(serverPublicKey)}`, value: base64(rotated.cert) },
          { op: "replace", path: `/data/${pointer(serverKey)}`, value: base64(rotated.key) },
        ],
      });
      await rollingRestart(release);
      await converge({ release, cluster, log });
      await writer.acknowledgedSince(writer.now(), 50, 60_000);
    } finally {
      report = await writer.stop();
    }
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    const ledger = await ledgerOnEveryPod(release, report.records);
    log(
      `[tls rotation] rolled out in ${seconds} s: writes unavailable ${report.longestOutageSeconds} s at most, ${report.acknowledged} acknowledged, ${lostAnywhere(ledger).length} lost`,
    );
    for (let i = 0; i <= release.replicas; i++)
      expect(await servedCertificateSerial(await release.endpoint(i), client), `pod ${i}'s certificate`).toBe(
        serialOf(rotated.cert),
      );
    expect(lostAnywhere(ledger), whereLost(ledger)).toEqual([]);
  });
});
