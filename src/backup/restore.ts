import { createReadStream, existsSync, readFileSync, statSync } from "node:fs";
import type { V1Pod, V1StatefulSet } from "@kubernetes/client-node";
import { RESTRICTED_CONTAINER, restrictedPod } from "../cluster/cluster.ts";
import { isPodReady, type Kube, statusCode, waitFor } from "../kube/index.ts";
import type { Credentials } from "../valkey/index.ts";
import { type BackupRecord, execOutput, execStreams } from "./backup.ts";
import { datasetDigest, info, podsOf, releaseStatefulSet, withPodClient } from "./dataset.ts";

export interface RestoreOptions {
  kube: Kube;
  namespace: string;
  release: string;
  credentials: Credentials;
  /** The RDB file a backup wrote; its record is read from `<file>.json` when present. */
  file: string;
  /** Replace a dataset the release already holds. */
  force?: boolean;
  log?: (line: string) => void;
}

export interface RestoreResult {
  keys: number;
  digest: string;
  /** Whether the restored dataset's digest equals the backup's (undefined: the backup recorded none). */
  digestMatches?: boolean;
  seconds: { stopped: number; written: number; ready: number; total: number };
}

/** Refused because the release holds data and `force` was not given. */
export class RestoreRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RestoreRefused";
  }
}

const ordinalOf = (pod: V1Pod) => Number(pod.metadata?.name?.split("-").at(-1));

/**
 * Restores a backup into a release: refuses when the release holds keys (unless forced);
 * scales its StatefulSet to 0; on each pod's volume, through a short-lived pod that mounts
 * it, empties the data directory and, on pod 0's (the primary's), writes the RDB file; then
 * scales back. At start the wrapper's init container turns the RDB into the append-only
 * file (as for any RDB-only data directory) and the replicas resync from pod 0. The
 * restored dataset's digest is compared with the one the backup recorded.
 */
export async function restoreRelease(options: RestoreOptions): Promise<RestoreResult> {
  const { kube, namespace, release, credentials, file } = options;
  const log = options.log ?? console.log;
  if (!existsSync(file)) throw new Error(`${file}: no such backup file`);
  const record: BackupRecord | undefined = existsSync(`${file}.json`)
    ? (JSON.parse(readFileSync(`${file}.json`, "utf8")) as BackupRecord)
    : undefined;
  const started = performance.now();
  const set = await releaseStatefulSet(kube, namespace, release);
  const name = set.metadata?.name as string;
  const replicas = set.spec?.replicas ?? 1;
  const pods = await podsOf(kube, set);
  const primary = pods.find((p) => ordinalOf(p) === 0);
  if (!primary) throw new Error(`release ${release}: pod ${name}-0 does not exist: is the release running?`);
  const held = await withPodClient(kube, namespace, primary.metadata?.name as string, credentials, (c) => c.dbsize());
  if (held > 0 && !options.force)
    throw new RestoreRefused(
      `release ${release} in namespace ${namespace} holds ${held} key(s): restoring ${file} would replace them. Restore into an empty release, or pass --force to overwrite.`,
    );
  const template = set.spec?.template.spec;
  const container = template?.containers[0];
  const claim = set.spec?.volumeClaimTemplates?.[0]?.metadata?.name;
  const mount = container?.volumeMounts?.find((m) => m.name === claim)?.mountPath;
  if (!container?.image || !claim || !mount)
    throw new Error(`StatefulSet ${name}: no data volume mounted in its first container to restore into`);
  const user = template?.securityContext?.runAsUser ?? container.securityContext?.runAsUser ?? 1000;

  log(`[restore] ${namespace}/${release}: scaling ${name} from ${replicas} to 0`);
  await scale(kube, set, 0);
  await waitFor(`the pods of ${name} to stop`, async () => (await podsOf(kube, set)).length === 0, {
    timeoutMs: 300_000,
    intervalMs: 1000,
  });
  const stopped = (performance.now() - started) / 1000;

  for (let ordinal = replicas - 1; ordinal >= 0; ordinal--) {
    const volume = `${claim}-${name}-${ordinal}`;
    const helper = `restore-${name}-${ordinal}`.slice(0, 63);
    await kube.core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: helper, labels: { "app.kubernetes.io/managed-by": "valkey-harness-restore" } },
        spec: {
          restartPolicy: "Never",
          automountServiceAccountToken: false,
          securityContext: { ...restrictedPod(user), fsGroup: template?.securityContext?.fsGroup ?? user },
          containers: [
            {
              name: "restore",
              image: container.image,
              command: ["sleep", "3600"],
              securityContext: RESTRICTED_CONTAINER,
              volumeMounts: [{ name: "data", mountPath: "/data" }],
            },
          ],
          volumes: [{ name: "data", persistentVolumeClaim: { claimName: volume } }],
        },
      },
    });
    try {
      await waitFor(
        `pod ${helper} (mounting ${volume}) to run`,
        async () => isPodReady(await kube.core.readNamespacedPod({ namespace, name: helper })),
        { timeoutMs: 180_000, intervalMs: 1000 },
      );
      // Nothing of the old dataset stays: no append-only file to load instead of the RDB.
      await execStreams(
        kube,
        namespace,
        helper,
        "restore",
        ["sh", "-c", "rm -rf /data/* /data/.[!.]* 2>/dev/null; ls -A /data"],
        {},
      );
      if (ordinal === 0) {
        log(`[restore] writing ${file} (${statSync(file).size} bytes) to ${volume}`);
        await execStreams(
          kube,
          namespace,
          helper,
          "restore",
          ["sh", "-c", "cat > /data/dump.rdb.restoring && mv /data/dump.rdb.restoring /data/dump.rdb"],
          { stdin: createReadStream(file) },
        );
        const written = (await execOutput(kube, namespace, helper, "restore", ["sha256sum", "/data/dump.rdb"])).split(
          /\s/,
        )[0];
        if (record && written !== record.sha256)
          throw new Error(`${volume}: the written dump.rdb has sha256 ${written}, the backup ${record.sha256}`);
      }
    } finally {
      await kube.core
        .deleteNamespacedPod({ namespace, name: helper, gracePeriodSeconds: 0 })
        .catch((error) => (statusCode(error) === 404 ? undefined : Promise.reject(error)));
      await waitFor(
        `pod ${helper} to be gone`,
        async () =>
          kube.core
            .readNamespacedPod({ namespace, name: helper })
            .then(() => false)
            .catch((error) => statusCode(error) === 404),
        { timeoutMs: 120_000, intervalMs: 500 },
      );
    }
  }
  const written = (performance.now() - started) / 1000;

  log(`[restore] scaling ${name} back to ${replicas}`);
  await scale(kube, set, replicas);
  await waitFor(
    `${replicas} pod(s) of ${name} to be Ready`,
    async () => (await podsOf(kube, set)).filter(isPodReady).length === replicas,
    { timeoutMs: 600_000, intervalMs: 1000 },
  );
  const primaryPod = `${name}-0`;
  await waitFor(
    `the ${replicas - 1} replica(s) of ${name} to be attached to pod 0 with their links up`,
    async () =>
      Number(
        (await withPodClient(kube, namespace, primaryPod, credentials, (c) => info(c, "replication"))).connected_slaves,
      ) ===
      replicas - 1,
    { timeoutMs: 300_000, intervalMs: 1000 },
  );
  const ready = (performance.now() - started) / 1000;
  const restored = await withPodClient(kube, namespace, primaryPod, credentials, datasetDigest);
  return {
    keys: restored.keys,
    digest: restored.digest,
    digestMatches: record?.digest ? record.digest === restored.digest : undefined,
    seconds: { stopped, written, ready, total: (performance.now() - started) / 1000 },
  };
}

async function scale(kube: Kube, set: V1StatefulSet, replicas: number): Promise<void> {
  const name = set.metadata?.name as string;
  const namespace = set.metadata?.namespace as string;
  await kube.apps.replaceNamespacedStatefulSetScale({
    name,
    namespace,
    body: { metadata: { name, namespace }, spec: { replicas } },
  });
}
