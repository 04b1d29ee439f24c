import { createHash } from "node:crypto";
import type { V1Pod, V1StatefulSet } from "@kubernetes/client-node";
import type { Redis } from "ioredis";
import { PortForwardServer } from "../kube/forward.ts";
import type { Kube } from "../kube/index.ts";
import { type Credentials, parseInfo, withClient } from "../valkey/index.ts";

const READ_BY_TYPE: Record<string, { command: string; args: string[]; sorted?: "items" | "pairs" }> = {
  string: { command: "GET", args: [] },
  list: { command: "LRANGE", args: ["0", "-1"] },
  hash: { command: "HGETALL", args: [], sorted: "pairs" },
  set: { command: "SMEMBERS", args: [], sorted: "items" },
  zset: { command: "ZRANGE", args: ["0", "-1", "WITHSCORES"] },
  stream: { command: "XRANGE", args: ["-", "+"] },
};

/** A reply as bytes, in an order that does not depend on the server's encoding of the value. */
function canonical(reply: unknown, sorted?: "items" | "pairs"): Buffer {
  const flat = (value: unknown): Buffer[] =>
    Array.isArray(value) ? value.flatMap(flat) : [value === null ? Buffer.from("(nil)") : Buffer.from(value as Buffer)];
  let parts: Buffer[][] = Array.isArray(reply) ? reply.map((item) => flat(item)) : [flat(reply)];
  if (sorted === "pairs") {
    const pairs: Buffer[][] = [];
    for (let i = 0; i < parts.length; i += 2) pairs.push([...(parts[i] ?? []), ...(parts[i + 1] ?? [])]);
    parts = pairs;
  }
  if (sorted) parts.sort((a, b) => Buffer.compare(Buffer.concat(a), Buffer.concat(b)));
  const out: Buffer[] = [];
  for (const part of parts) for (const piece of part) out.push(Buffer.from(`${piece.length}:`), piece);
  return Buffer.concat(out);
}

/**
 * A digest of every key and its value (by type: strings, lists, hashes, sets, sorted sets,
 * streams; members of hashes and sets in sorted order), keys in byte order: equal on two
 * releases exactly when they hold the same data, whatever encoding each server chose for
 * it (an RDB load re-encodes small collections). TTLs are not part of it. A key of another
 * type (a module's) is read with DUMP, which depends on the server's version.
 */
export async function datasetDigest(client: Redis): Promise<{ keys: number; digest: string }> {
  const unique = new Map<string, Buffer>();
  let cursor = "0";
  do {
    const [next, batch] = await client.scanBuffer(cursor, "COUNT", 1000);
    for (const key of batch) unique.set(key.toString("hex"), key);
    cursor = String(next);
  } while (cursor !== "0");
  const keys = [...unique.values()].sort(Buffer.compare);
  const hash = createHash("sha256");
  for (let i = 0; i < keys.length; i += 500) {
    const batch = keys.slice(i, i + 500);
    const typing = client.pipeline();
    for (const key of batch) typing.type(key);
    const types = ((await typing.exec()) ?? []).map(([error, type]) => {
      if (error) throw new Error(`TYPE: ${error.message}`);
      return String(type);
    });
    const reading = client.pipeline();
    batch.forEach((key, j) => {
      const read = READ_BY_TYPE[types[j] as string];
      if (read) reading.callBuffer(read.command, key, ...read.args);
      else reading.dumpBuffer(key);
    });
    const values = (await reading.exec()) ?? [];
    batch.forEach((key, j) => {
      const [error, value] = values[j] ?? [new Error("no reply")];
      if (error) throw new Error(`reading ${key.toString()} (${types[j]}): ${error.message}`);
      if (value === null) throw new Error(`key ${key.toString()} vanished while the digest was taken`);
      hash.update(`${key.length}:`).update(key).update(`${types[j]}:`);
      hash.update(canonical(value, READ_BY_TYPE[types[j] as string]?.sorted));
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

/** A StatefulSet pod's ordinal, from its name. */
export const ordinalOf = (pod: V1Pod) => Number(pod.metadata?.name?.split("-").at(-1));

/** The StatefulSet's pods, by ordinal. */
export async function podsOf(kube: Kube, set: V1StatefulSet): Promise<V1Pod[]> {
  const selector = Object.entries(set.spec?.selector.matchLabels ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
  const pods = await kube.pods(set.metadata?.namespace as string, selector);
  return pods.sort((a, b) => ordinalOf(a) - ordinalOf(b));
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
