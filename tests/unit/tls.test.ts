import { X509Certificate } from "node:crypto";
import { describe, expect, test } from "vitest";
import { issueCertificate, makeCertificateAuthority, releaseDnsNames, serialOf } from "../../src/chart/tls.ts";

describe("certificates for a release that serves TLS (openssl)", () => {
  test("name every address clients, replicas and the exporter use", () => {
    const names = releaseDnsNames("valkey", "ns1");
    expect(names).toEqual(
      expect.arrayContaining([
        "valkey.ns1.svc.cluster.local",
        "valkey-read.ns1.svc",
        "valkey-replication.ns1.svc.cluster.local",
        "*.valkey-headless.ns1.svc.cluster.local",
        "localhost",
      ]),
    );
  });

  test("a server certificate the CA signed, for those names and 127.0.0.1, usable by a replica as its client certificate", async () => {
    const ca = await makeCertificateAuthority();
    const server = await issueCertificate(ca, "server", releaseDnsNames("valkey", "ns1"));
    const cert = new X509Certificate(server.cert);
    expect(cert.verify(new X509Certificate(ca.cert).publicKey)).toBe(true);
    expect(cert.checkHost("valkey-1.valkey-headless.ns1.svc.cluster.local")).toBeDefined();
    expect(cert.checkHost("valkey.other.svc.cluster.local")).toBeUndefined();
    expect(cert.checkIP("127.0.0.1")).toBe("127.0.0.1");
    expect(cert.toLegacyObject().ext_key_usage).toEqual(
      expect.arrayContaining(["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"]),
    );
    const other = await makeCertificateAuthority("another CA");
    expect(cert.verify(new X509Certificate(other.cert).publicKey)).toBe(false);
    const rotated = await issueCertificate(ca, "rotated", ["valkey"]);
    expect(serialOf(rotated.cert)).not.toBe(serialOf(server.cert));
  });
});
