import { createReadStream, existsSync, readFileSync, statSync } from "node:fs";
import type { Readable } from "node:stream";
import type { V1StatefulSet } from "@kubernetes/client-node";
import { RESTRICTED_CONTAINER, restrictedPod } from "../cluster/cluster.ts";
import { isPodReady, type Kube, statusCode, waitFor } from "../kube/index.ts";
import type { Credentials } from "../valkey/index.ts";
import { type BackupRecord, execOutput, execStreams, sha256Of } from "./backup.ts";
import { datasetDigest, info, ordinalOf, podsOf, releaseStatefulSet, withPodClient } from "./dataset.ts";

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
  const sha256 = await sha256Of(file);
  if (record && sha256 !== record.sha256)
    throw new Error(
      `${file} has sha256 ${sha256}, its record ${file}.json says ${record.sha256}: the file changed since the backup`,
    );
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
  const claim = set.spec?.volumeClaimTemplates?.[0]?.metadata?.name;
  const container = template?.containers.find((c) => c.volumeMounts?.some((m) => m.name === claim));
  if (!container?.image || !claim)
    throw new Error(
      `StatefulSet ${name}: no container mounts its data volume (claim template ${claim}) to restore into`,
    );
  const user = container.securityContext?.runAsUser ?? template?.securityContext?.runAsUser ?? 1000;
  // A helper a killed restore left behind would make the next one fail on its name.
  await kube.core.deleteCollectionNamespacedPod({ namespace, labelSelector: HELPER_LABEL, gracePeriodSeconds: 0 });

  log(`[restore] ${namespace}/${release}: scaling ${name} from ${replicas} to 0`);
  await scale(kube, set, 0);
  const touched: string[] = [];
  let stopped = 0;
  let written = 0;
  try {
    await waitFor(`the pods of ${name} to stop`, async () => (await podsOf(kube, set)).length === 0, {
      timeoutMs: 300_000,
      intervalMs: 1000,
    });
    stopped = (performance.now() - started) / 1000;
    // Pod 0 first: the RDB is written and checked beside the old data, which goes only then.
    for (let ordinal = 0; ordinal < replicas; ordinal++) {
      const volume = `${claim}-${name}-${ordinal}`;
      await withHelperPod(
        kube,
        namespace,
        `restore-${name}-${ordinal}`.slice(0, 63),
        volume,
        container.image,
        user,
        template?.securityContext?.fsGroup ?? user,
        async (helper) => {
          const run = (command: string, stdin?: Readable) =>
            execStreams(kube, namespace, helper, "restore", ["sh", "-c", `set -e; ${command}`], { stdin });
          if (ordinal === 0) {
            log(`[restore] writing ${file} (${statSync(file).size} bytes) to ${volume}`);
            await run("cat > /data/.dump.rdb.restoring", createReadStream(file));
            const copied = (
              await execOutput(kube, namespace, helper, "restore", ["sha256sum", "/data/.dump.rdb.restoring"])
            ).split(/\s/)[0];
            if (copied !== sha256) throw new Error(`${volume}: the copied RDB has sha256 ${copied}, ${file} ${sha256}`);
          }
          touched.push(volume);
          // Nothing of the old dataset stays: no append-only file to load instead of the RDB.
          await run(EMPTY_DATA_DIRECTORY);
          if (ordinal === 0) await run("mv /data/.dump.rdb.restoring /data/dump.rdb");
          const left = (await execOutput(kube, namespace, helper, "restore", ["ls", "-A", "/data"]))
            .split("\n")
            .filter((f) => f && f !== "lost+found" && f !== "dump.rdb");
          if (left.length > 0)
            throw new Error(`${volume}: could not empty the data directory (left: ${left.join(", ")})`);
        },
      );
    }
    written = (performance.now() - started) / 1000;
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    if (touched.length === 0) {
      log(`[restore] failed before any volume was changed: scaling ${name} back to ${replicas}`);
      await scale(kube, set, replicas);
      throw new Error(`restore of ${file} failed, the release is back as it was: ${why}`);
    }
    throw new Error(
      `restore of ${file} failed after these volumes were changed: ${touched.join(", ")}. StatefulSet ${name} is left at 0 pods. Run the restore again with --force (the release now holds nothing), or scale it back (kubectl -n ${namespace} scale statefulset ${name} --replicas=${replicas}). Cause: ${why}`,
    );
  }

  log(`[restore] scaling ${name} back to ${replicas}`);
  await scale(kube, set, replicas);
  await waitFor(
    `${replicas} pod(s) of ${name} to be Ready (pod 0's init container valkey-wrapper-init turns the RDB into the append-only file first)`,
    async () => (await podsOf(kube, set)).filter(isPodReady).length === replicas,
    { timeoutMs: 600_000 + statSync(file).size / 1_000, intervalMs: 1000 },
  );
  const primaryPod = `${name}-0`;
  await waitFor(
    `the ${replicas - 1} replica(s) of ${name} to be online at pod 0`,
    async () => {
      const replication = await withPodClient(kube, namespace, primaryPod, credentials, (c) => info(c, "replication"));
      const online = Object.entries(replication).filter(([k, v]) => /^slave\d+$/.test(k) && v.includes("state=online"));
      return online.length === replicas - 1;
    },
    { timeoutMs: 300_000, intervalMs: 1000 },
  );
  const ready = (performance.now() - started) / 1000;
  const restored = await withPodClient(kube, namespace, primaryPod, credentials, datasetDigest);
  if (record && !record.digest && restored.keys !== record.keys)
    throw new Error(`the restored release holds ${restored.keys} key(s), the backup recorded ${record.keys}`);
  return {
    keys: restored.keys,
    digest: restored.digest,
    digestMatches: record?.digest ? record.digest === restored.digest : undefined,
    seconds: { stopped, written, ready, total: (performance.now() - started) / 1000 },
  };
}

/** Removes everything in /data but the RDB being restored (the server's image may have a shell and coreutils only: no find). */
const EMPTY_DATA_DIRECTORY =
  'for f in /data/* /data/.[!.]* /data/..?*; do [ -e "$f" ] || continue; case "$(basename "$f")" in .dump.rdb.restoring | lost+found) ;; *) rm -rf "$f" ;; esac; done';

const HELPER_LABEL = "app.kubernetes.io/managed-by=valkey-harness-restore";

/** Runs `use` with a pod that mounts a claim at /data (restricted, the release's user), and removes the pod after. */
async function withHelperPod(
  kube: Kube,
  namespace: string,
  name: string,
  claimName: string,
  image: string,
  user: number,
  fsGroup: number,
  use: (pod: string) => Promise<void>,
): Promise<void> {
  const [labelKey, labelValue] = HELPER_LABEL.split("=") as [string, string];
  await kube.core.createNamespacedPod({
    namespace,
    body: {
      metadata: { name, labels: { [labelKey]: labelValue } },
      spec: {
        restartPolicy: "Never",
        automountServiceAccountToken: false,
        securityContext: { ...restrictedPod(user), fsGroup },
        containers: [
          {
            name: "restore",
            image,
            command: ["sleep", "86400"],
            securityContext: RESTRICTED_CONTAINER,
            volumeMounts: [{ name: "data", mountPath: "/data" }],
          },
        ],
        volumes: [{ name: "data", persistentVolumeClaim: { claimName } }],
      },
    },
  });
  try {
    await waitFor(
      `pod ${name} (mounting ${claimName}) to run`,
      async () => isPodReady(await kube.core.readNamespacedPod({ namespace, name })),
      { timeoutMs: 180_000, intervalMs: 1000 },
    ).catch(async (error: Error) => {
      throw new Error(`${error.message}\n${await kube.diagnostics(namespace, 10)}`);
    });
    await use(name);
  } finally {
    await kube.core
      .deleteNamespacedPod({ namespace, name, gracePeriodSeconds: 0 })
      .catch((error) => (statusCode(error) === 404 ? undefined : Promise.reject(error)));
    await waitFor(
      `pod ${name} to be gone`,
      async () =>
        kube.core
          .readNamespacedPod({ namespace, name })
          .then(() => false)
          .catch((error) => statusCode(error) === 404),
      { timeoutMs: 120_000, intervalMs: 500 },
    );
  }
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
