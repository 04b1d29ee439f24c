import { X509Certificate } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect } from "node:tls";
import { scratchDir } from "../files.ts";
import { run } from "../process.ts";

/**
 * Certificates for a release that serves TLS, made with the openssl command (never a
 * hand-written encoder), as the platform's certificate manager would: a CA, a server
 * certificate naming every address clients and replicas use, and a client certificate.
 * Short-lived (2 days): they exist for one run.
 */

export interface CertificateAuthority {
  /** PEM of the CA's certificate: what clients trust. */
  cert: string;
  key: string;
  dir: string;
}

export interface Issued {
  cert: string;
  key: string;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  const result = await run("openssl", args, { cwd }).catch((error: Error) => {
    throw new Error(`openssl could not be run (${error.message}): install it (Debian: apt-get install openssl)`);
  });
  if (result.code !== 0) throw new Error(`openssl ${args[0]} failed: ${result.stderr.trim().split("\n").at(-1)}`);
}

const EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];

export async function makeCertificateAuthority(commonName = "valkey-harness test CA"): Promise<CertificateAuthority> {
  const dir = scratchDir("tls-");
  await openssl(
    [
      "req",
      "-x509",
      ...EC_KEY,
      "-keyout",
      "ca.key",
      "-out",
      "ca.crt",
      "-days",
      "2",
      "-subj",
      `/CN=${commonName}`,
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    ],
    dir,
  );
  return { cert: readFileSync(join(dir, "ca.crt"), "utf8"), key: readFileSync(join(dir, "ca.key"), "utf8"), dir };
}

/**
 * A certificate signed by `ca` for `dnsNames` (and 127.0.0.1), usable as a server's and as
 * a client's (Valkey presents its server certificate to the primary when it replicates).
 */
export async function issueCertificate(
  ca: CertificateAuthority,
  name: string,
  dnsNames: string[],
  usage: "server" | "client" = "server",
): Promise<Issued> {
  const { dir } = ca;
  const sans = [...dnsNames.map((n) => `DNS:${n}`), "IP:127.0.0.1"].join(",");
  writeFileSync(
    join(dir, `${name}.ext`),
    [
      usage === "server" ? `subjectAltName=${sans}` : "",
      `extendedKeyUsage=${usage === "server" ? "serverAuth,clientAuth" : "clientAuth"}`,
      "keyUsage=critical,digitalSignature",
      "basicConstraints=CA:FALSE",
    ]
      .filter(Boolean)
      .join("\n"),
  );
  await openssl(
    ["req", ...EC_KEY, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${dnsNames[0] ?? name}`],
    dir,
  );
  await openssl(
    [
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      `${name}.crt`,
      "-days",
      "2",
      "-extfile",
      `${name}.ext`,
    ],
    dir,
  );
  return {
    cert: readFileSync(join(dir, `${name}.crt`), "utf8"),
    key: readFileSync(join(dir, `${name}.key`), "utf8"),
  };
}

/** Every name a client, replica or exporter reaches a release's pods by: its Services, each pod's headless name, localhost. */
export function releaseDnsNames(fullname: string, namespace: string, domain = "cluster.local"): string[] {
  const services = [fullname, `${fullname}-read`, `${fullname}-replication`, `${fullname}-headless`];
  const names = services.flatMap((service) => [
    `${service}.${namespace}.svc.${domain}`,
    `${service}.${namespace}.svc`,
    `${service}.${namespace}`,
    service,
  ]);
  return [
    ...names,
    `*.${fullname}-headless.${namespace}.svc.${domain}`,
    `*.${fullname}-headless.${namespace}.svc`,
    // The exporter in each pod connects to localhost.
    "localhost",
  ];
}

/** The serial number of a PEM certificate, as a peer certificate reports it (upper-case hex). */
export function serialOf(pem: string): string {
  return new X509Certificate(pem).serialNumber.toUpperCase();
}

/** The serial number of the certificate a TLS server presents, after verifying it with `tls`. */
export function servedCertificateSerial(
  endpoint: { host: string; port: number },
  tls: { ca: string; servername: string; cert?: string; key?: string },
  timeoutMs = 5_000,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: endpoint.host, port: endpoint.port, ...tls }, () => {
      const serial = socket.getPeerCertificate().serialNumber;
      socket.destroy();
      resolve(String(serial).toUpperCase());
    });
    socket.setTimeout(timeoutMs, () =>
      socket.destroy(new Error(`no TLS handshake with ${endpoint.host}:${endpoint.port} in ${timeoutMs} ms`)),
    );
    socket.once("error", reject);
  });
}
