import { createHash } from "node:crypto";
import type { V1Pod, V1StatefulSet } from "@kubernetes/client-node";
import type { Redis } from "ioredis";
import { PortForwardServer } from "../kube/forward.ts";
import type { Kube } from "../kube/index.ts";
import { type Credentials, parseInfo, withClient } from "../valkey/index.ts";

/**
 * A digest of every key and value (DUMP's serialization, in key order): equal on two
 * releases exactly when they hold the same keys with the same values. TTLs are not part
 * of it. DUMP's format is the server's RDB version: compare digests taken on the same
 * Valkey version.
 */
export async function datasetDigest(client: Redis): Promise<{ keys: number; digest: string }> {
  const keys: string[] = [];
  let cursor = "0";
  do {
    const [next, batch] = await client.scan(cursor, "COUNT", 1000);
    keys.push(...batch);
    cursor = next;
  } while (cursor !== "0");
  keys.sort();
  const hash = createHash("sha256");
  for (let i = 0; i < keys.length; i += 500) {
    const batch = keys.slice(i, i + 500);
    const pipeline = client.pipeline();
    for (const key of batch) pipeline.dumpBuffer(key);
    const dumps = (await pipeline.exec()) ?? [];
    batch.forEach((key, j) => {
      const [error, value] = dumps[j] ?? [new Error("no reply")];
      if (error) throw new Error(`DUMP ${key}: ${error.message}`);
      hash.update(`${key.length}:${key}`);
      hash.update(value === null ? Buffer.alloc(0) : (value as Buffer));
    });
  }
  return { keys: keys.length, digest: hash.digest("hex") };
}

/** A release's StatefulSet in a namespace, found by the instance label the chart puts on it. */
export async function releaseStatefulSet(kube: Kube, namespace: string, release: string): Promise<V1StatefulSet> {
  const sets = (
    await kube.apps.listNamespacedStatefulSet({ namespace, labelSelector: `app.kubernetes.io/instance=${release}` })
  ).items;
  const found = sets.filter((s) => (s.spec?.volumeClaimTemplates?.length ?? 0) > 0);
  if (found.length !== 1)
    throw new Error(
      `release ${release} in namespace ${namespace}: expected one StatefulSet with volumes labelled app.kubernetes.io/instance=${release}, found ${found.length}${found.length ? ` (${found.map((s) => s.metadata?.name).join(", ")})` : ": check --release and --namespace"}`,
    );
  return found[0] as V1StatefulSet;
}

/** The StatefulSet's pods, by ordinal. */
export async function podsOf(kube: Kube, set: V1StatefulSet): Promise<V1Pod[]> {
  const selector = Object.entries(set.spec?.selector.matchLabels ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
  const pods = await kube.pods(set.metadata?.namespace as string, selector);
  const ordinal = (p: V1Pod) => Number(p.metadata?.name?.split("-").at(-1));
  return pods.sort((a, b) => ordinal(a) - ordinal(b));
}

/** Runs `use` with a client of a pod's Valkey, reached through a port forward over the API server. */
export async function withPodClient<T>(
  kube: Kube,
  namespace: string,
  pod: string,
  credentials: Credentials,
  use: (client: Redis) => Promise<T>,
): Promise<T> {
  const forward = await PortForwardServer.start(kube, namespace, async () => pod, 6379);
  try {
    return await withClient({ host: forward.host, port: forward.port }, credentials, use);
  } finally {
    await forward.close();
  }
}

/** INFO of one section, parsed. */
export async function info(client: Redis, section: string): Promise<Record<string, string>> {
  return parseInfo(await client.info(section));
}
