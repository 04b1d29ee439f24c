import { randomBytes } from "node:crypto";
import { waitFor } from "../kube/index.ts";
import { readDataset, replicationInfo, withClient, writeDataset } from "../valkey/index.ts";
import { type Check, CheckNotApplicable, Verdict } from "./check.ts";

/** How long replicas may take to show a write (they are on the same machine). */
export const REPLICATION_BOUND_MS = 5_000;

export const replicationTopology: Check = {
  id: "replication.topology",
  promise:
    "runs the declared number of pods, pod 0 as the primary with every declared replica attached through the declared address (the replication Service, with the wrapper's init container) and its link up, and every replica refuses writes (a SET answers -READONLY)",
  async run({ release, cluster, expected }) {
    const verdict: Verdict = new Verdict(this.id);
    const set = await cluster.kube.apps.readNamespacedStatefulSet({
      name: release.fullname,
      namespace: release.namespace,
    });
    verdict.equal(
      set.spec?.replicas,
      expected.pods,
      `pods of StatefulSet ${release.fullname} (1 primary + ${expected.replicas} replicas)`,
    );
    await withClient(await release.endpoint(0), release.clientCredentials, async (primary) => {
      const info = await replicationInfo(primary);
      verdict.equal(info.role, "master", "pod 0's role");
      verdict.equal(Number(info.connected_slaves), expected.replicas, "replicas connected to pod 0");
    });
    for (let i = 1; i <= expected.replicas; i++) {
      await withClient(await release.endpoint(i), release.clientCredentials, async (replica) => {
        const info = await replicationInfo(replica);
        verdict.equal(info.role, "slave", `pod ${i}'s role`);
        verdict.equal(info.master_link_status, "up", `pod ${i}'s link to the primary`);
        verdict.equal(info.master_host, expected.primaryHost, `the address pod ${i} replicates from`);
        // A write a replica took would live on that replica only, and vanish at its next resync.
        const key = `harness:read-only-probe:${randomBytes(6).toString("hex")}`;
        const answer = await replica.set(key, "x").then(
          (reply) => `+${reply}`,
          (error: Error) => `-${error.message}`,
        );
        if (!answer.startsWith("-")) await replica.del(key).catch(() => undefined);
        verdict.that(
          answer.startsWith("-READONLY"),
          `pod ${i}, a replica, answered ${JSON.stringify(answer)} to a SET instead of -READONLY`,
        );
      });
    }
  },
};

export const replicationAddress: Check = {
  id: "replication.address",
  promise:
    "publishes pod 0 to its replicas before it is Ready: the replication Service they follow has a cluster IP, publishNotReadyAddresses, and pod 0 alone behind it on the server port, so after a primary restart they can reach it and resync while its startup probe is pending",
  async run({ release, cluster, expected }) {
    const name = `${release.fullname}-replication`;
    if (!expected.primaryHost.startsWith(`${name}.`))
      throw new CheckNotApplicable(`replicas follow ${expected.primaryHost}, not a replication Service`);
    const verdict: Verdict = new Verdict(this.id);
    const { namespace } = release;
    const service = await cluster.kube.core
      .readNamespacedService({ name, namespace })
      .catch((error: Error) =>
        verdict.fail(`Service ${name}, which replicas follow, cannot be read: ${error.message}`),
      );
    const clusterIP = service.spec?.clusterIP;
    verdict.that(
      !!clusterIP && clusterIP !== "None",
      `Service ${name} has no cluster IP (${clusterIP}): replicas would follow DNS answers cached for 30 s`,
    );
    verdict.that(
      service.spec?.publishNotReadyAddresses === true,
      `Service ${name} does not publish not-ready addresses (publishNotReadyAddresses ${service.spec?.publishNotReadyAddresses}): replicas reach a restarted primary only once its startup probe passes`,
    );
    const slices = await cluster.kube.discovery.listNamespacedEndpointSlice({
      namespace,
      labelSelector: `kubernetes.io/service-name=${name}`,
    });
    const behind = slices.items.flatMap((slice) => (slice.endpoints ?? []).map((e) => e.targetRef?.name ?? "?"));
    verdict.equal([...new Set(behind)].sort().join(","), release.podName(0), `pods behind Service ${name}`);
    const ports = [...new Set(slices.items.flatMap((slice) => (slice.ports ?? []).map((p) => p.port)))];
    const serverPort = Number(release.declared.valkey?.service?.port ?? 6379);
    verdict.equal(ports.join(","), String(serverPort), `target port of Service ${name}`);
  },
};

export const replicationOfWrites: Check = {
  id: "replication.writes",
  promise: `replicates 2,000 keys written through the primary Service: WAIT acknowledges every replica and each holds the checksummed keys within ${REPLICATION_BOUND_MS / 1000} s`,
  async run({ release, expected }) {
    const verdict: Verdict = new Verdict(this.id);
    const dataset = await withClient(await release.endpoint("primary"), release.clientCredentials, async (primary) => {
      const written = await writeDataset(primary, `replication:${expected.env}`, 2_000).catch((error: Error) =>
        verdict.fail(`writing 2,000 keys through the primary Service was refused: ${error.message}`),
      );
      const acknowledged = await primary.wait(expected.replicas, 5_000);
      verdict.equal(acknowledged, expected.replicas, "replicas acknowledging WAIT after the writes");
      return { ...written, offset: Number((await replicationInfo(primary)).master_repl_offset) };
    });
    for (let i = 1; i <= expected.replicas; i++) {
      await withClient(await release.endpoint(i), release.clientCredentials, async (replica) => {
        const seen = await waitFor(
          `pod ${i} to hold all ${dataset.count} keys`,
          async () => {
            const read = await readDataset(replica, dataset);
            return read.checksum === dataset.checksum ? read : undefined;
          },
          { timeoutMs: REPLICATION_BOUND_MS, intervalMs: 100 },
        ).catch(async () => readDataset(replica, dataset));
        verdict.that(
          seen.checksum === dataset.checksum,
          `pod ${i} does not hold the dataset ${REPLICATION_BOUND_MS / 1000} s after the writes: ${seen.missing} keys missing, ${seen.wrong} wrong`,
        );
        const offset = Number((await replicationInfo(replica)).slave_repl_offset);
        verdict.that(
          offset >= dataset.offset,
          `pod ${i}'s replication offset ${offset} is behind the primary's ${dataset.offset}`,
        );
      });
    }
  },
};

export const writeSafetyConfig: Check = {
  id: "config.min-replicas",
  promise:
    "runs every pod with min-replicas-to-write and min-replicas-max-lag as the environment declares (NOREPLICAS itself is proven by the failover suite)",
  async run({ release, expected }) {
    const verdict: Verdict = new Verdict(this.id);
    for (let i = 0; i < expected.pods; i++) {
      await withClient(await release.endpoint(i), release.clientCredentials, async (client) => {
        const config = (await client.config("GET", "min-replicas-*")) as string[];
        const value = (name: string) => config[config.indexOf(name) + 1];
        verdict.equal(
          value("min-replicas-to-write"),
          String(expected.minReplicasToWrite),
          `min-replicas-to-write on pod ${i}`,
        );
        verdict.equal(
          value("min-replicas-max-lag"),
          String(expected.minReplicasMaxLag),
          `min-replicas-max-lag on pod ${i}`,
        );
      });
    }
  },
};

export const serverSettings: Check = {
  id: "config.server-settings",
  promise:
    "runs every pod with the server settings the environment's valkeyConfig declares (persistence among them), read back with CONFIG GET",
  notApplicable: (features) => (features.serverConfig ? undefined : "the environment declares no server configuration"),
  async run({ release, expected }) {
    const verdict: Verdict = new Verdict(this.id);
    for (let i = 0; i < expected.pods; i++) {
      await withClient(await release.endpoint(i), release.clientCredentials, async (client) => {
        for (const [directive, value] of Object.entries(expected.serverConfig)) {
          const [, found] = (await client.config("GET", directive)) as [string, string];
          verdict.equal(found, value, `${directive} on pod ${i} (valkeyConfig says "${directive} ${value}")`);
        }
      });
    }
  },
};

export const helmTest: Check = {
  id: "chart.helm-test",
  promise:
    "passes the chart's own `helm test`: PING and SET through the primary Service, WAIT for minReplicasToWrite replicas, and the key read back on every replica, from a client the NetworkPolicy admits",
  async run({ release, cluster }) {
    if (release.delivery === "gitops")
      throw new CheckNotApplicable(
        "a GitOps tool runs no Helm test hook (Argo CD skips them; the GitOps path renders with --skip-tests)",
      );
    const verdict: Verdict = new Verdict(this.id);
    const pod = `${release.fullname}-wrapper-test`;
    const output = await release.helm
      .run(["test", release.name, "--logs", "--timeout", "180s", ...release.helmArgs()], { timeoutMs: 240_000 })
      .catch(async (error: Error) => {
        // Helm prints no logs of a test that failed; its pod stays (deleted on success only).
        const logs = await cluster.kube.core
          .readNamespacedPodLog({ namespace: release.namespace, name: pod })
          .catch((e: Error) => `(no logs: ${e.message})`);
        return verdict.fail(
          `helm test ${release.name} failed: ${error.message.split("\n")[0]}; the test pod ${pod} printed: ${String(logs).trim()}`,
        );
      });
    // A revision of the chart from before its test hook (an upgrade walk's base) has none to run.
    if (/TEST SUITE:\s+None/.test(output))
      throw new CheckNotApplicable(`the installed revision of the chart has no test hook`);
    verdict.that(
      new RegExp(`TEST SUITE:\\s+${pod}[\\s\\S]*?Phase:\\s+Succeeded`).test(output),
      `helm test ${release.name} did not report ${pod} succeeded:\n${output}`,
    );
  },
};
