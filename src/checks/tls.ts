import { makeCertificateAuthority } from "../chart/tls.ts";
import { rawCommand, replicationInfo, withClient } from "../valkey/index.ts";
import { type Check, CheckNotApplicable, Verdict } from "./check.ts";

/** What a handshake or a plaintext attempt came to, in words for a message: the reply line or the error. */
async function outcome(attempt: Promise<string>): Promise<{ served: boolean; said: string }> {
  return attempt.then(
    (reply) => ({ served: reply === "+PONG" || reply.startsWith("-NOAUTH"), said: JSON.stringify(reply) }),
    (error: Error) => ({ served: false, said: error.message }),
  );
}

export const tlsInTransit: Check = {
  id: "access.tls",
  promise:
    "serves TLS only: on every pod no plaintext listener (port 0, tls-port the server port), a plaintext client gets no reply, a client verifying the release's CA and the Service's name is served, a client trusting another CA fails its handshake (and, where client certificates are required, so does a client without one); every replica replicates over TLS (tls-replication yes, link up) and WAIT counts them",
  notApplicable: (features) => (features.tls ? undefined : "the environment does not turn TLS on"),
  async run({ release, expected }) {
    const verdict: Verdict = new Verdict(this.id);
    const tls = release.clientTls;
    if (!tls) throw new CheckNotApplicable("the harness made no certificates for this release");
    const stranger = await makeCertificateAuthority("another CA");
    const requireCertificate = !!release.declared.valkey?.tls?.requireClientCertificate;
    const serverPort = String(release.declared.valkey?.service?.port ?? 6379);
    for (let i = 0; i < expected.pods; i++) {
      const endpoint = await release.endpoint(i);
      await withClient(endpoint, release.clientCredentials, async (client) => {
        const [, port] = (await client.config("GET", "port")) as string[];
        const [, tlsPort] = (await client.config("GET", "tls-port")) as string[];
        verdict.equal(port, "0", `pod ${i}'s plaintext port (port; 0: no plaintext listener)`);
        verdict.equal(tlsPort, serverPort, `pod ${i}'s tls-port`);
      });
      const plaintext = await rawCommand(endpoint, ["PING"], 3_000).then(
        (reply) => `answered ${JSON.stringify(reply)}`,
        () => undefined,
      );
      verdict.that(plaintext === undefined, `pod ${i} ${plaintext} a plaintext PING`);
      const trusted = await outcome(rawCommand(endpoint, ["PING"], 3_000, tls));
      verdict.that(trusted.served, `pod ${i} did not serve a client verifying the release's CA: ${trusted.said}`);
      const untrusting = await outcome(rawCommand(endpoint, ["PING"], 3_000, { ...tls, ca: stranger.cert }));
      verdict.that(
        !untrusting.served && /certificate|verify/i.test(untrusting.said),
        `pod ${i}: a client trusting another CA was not refused by its handshake (${untrusting.said})`,
      );
      if (requireCertificate) {
        const anonymous = await outcome(
          rawCommand(endpoint, ["PING"], 3_000, { ca: tls.ca, servername: tls.servername }),
        );
        verdict.that(
          !anonymous.served,
          `pod ${i} served a client without a certificate though valkey.tls.requireClientCertificate is true (${anonymous.said})`,
        );
      }
    }
    for (let i = 1; i <= expected.replicas; i++) {
      await withClient(await release.endpoint(i), release.clientCredentials, async (replica) => {
        const [, setting] = (await replica.config("GET", "tls-replication")) as string[];
        verdict.equal(setting, "yes", `pod ${i}'s tls-replication`);
        verdict.equal((await replicationInfo(replica)).master_link_status, "up", `pod ${i}'s link to the primary`);
      });
    }
    await withClient(await release.endpoint("primary"), release.clientCredentials, async (primary) => {
      await primary.set(`harness:tls-probe:${Date.now()}`, "x");
      verdict.equal(await primary.wait(expected.replicas, 5_000), expected.replicas, "replicas acknowledging WAIT");
    });
  },
};
