import { createHash } from "node:crypto";
import { createReadStream, createWriteStream, renameSync, rmSync, statSync } from "node:fs";
import { PassThrough, type Readable, type Writable } from "node:stream";
import { finished, pipeline } from "node:stream/promises";
import { Exec, type V1Status } from "@kubernetes/client-node";
import type { Redis } from "ioredis";
import { writeFileAtomic } from "../files.ts";
import type { Kube } from "../kube/index.ts";
import type { Credentials } from "../valkey/index.ts";
import { datasetDigest, info, podsOf, releaseStatefulSet, withPodClient } from "./dataset.ts";

/** What a backup wrote beside its RDB file (`<file>.json`): enough to verify a restore. */
export interface BackupRecord {
  release: string;
  namespace: string;
  /** The pod the RDB was saved on (a replica in sync, unless the release has none). */
  pod: string;
  role: "replica" | "primary";
  takenAt: string;
  valkeyVersion: string;
  bytes: number;
  sha256: string;
  keys: number;
  /** The dataset digest (src/backup/dataset.ts), when the dataset held still during the save. */
  digest?: string;
  /** Why there is no digest. */
  digestNote?: string;
  seconds: { save: number; copy: number; total: number };
}

export interface BackupOptions {
  kube: Kube;
  namespace: string;
  release: string;
  credentials: Credentials;
  /** The RDB file to write; its record goes to `<file>.json`. */
  file: string;
  log?: (line: string) => void;
}

/** Runs a command in a container with its stdin and stdout as streams; rejects on a non-zero exit. */
export async function execStreams(
  kube: Kube,
  namespace: string,
  pod: string,
  container: string,
  command: string[],
  streams: { stdin?: Readable; stdout?: Writable },
): Promise<string> {
  const stderr = new PassThrough();
  const err: Buffer[] = [];
  stderr.on("data", (chunk: Buffer) => err.push(chunk));
  const status = await new Promise<V1Status>((resolve, reject) => {
    new Exec(kube.config)
      .exec(
        namespace,
        pod,
        container,
        command,
        streams.stdout ?? new PassThrough().resume(),
        stderr,
        streams.stdin ?? null,
        false,
        resolve,
      )
      .then((socket) => socket.on("error", reject))
      .catch(reject);
  });
  const printed = Buffer.concat(err).toString("utf8").trim();
  if (status.status !== "Success")
    throw new Error(`${command.join(" ")} in ${namespace}/${pod}: ${status.message ?? "failed"} ${printed}`.trim());
  return printed;
}

/** A command's standard output, as text. */
export async function execOutput(
  kube: Kube,
  namespace: string,
  pod: string,
  container: string,
  command: string[],
): Promise<string> {
  const out: Buffer[] = [];
  const stdout = new PassThrough();
  stdout.on("data", (chunk: Buffer) => out.push(chunk));
  await execStreams(kube, namespace, pod, container, command, { stdout });
  return Buffer.concat(out).toString("utf8");
}

/** Triggers a BGSAVE and waits until a new save completed; throws with the server's status when it failed. */
async function freshSave(client: Redis): Promise<{ saves: number }> {
  const savesNow = async () => {
    const persistence = await info(client, "persistence");
    if (persistence.rdb_last_bgsave_status === "err" && persistence.rdb_bgsave_in_progress === "0")
      throw new Error("BGSAVE failed: rdb_last_bgsave_status err (the server's log says why: disk full, permissions)");
    return { persistence, saves: Number(persistence.rdb_saves ?? Number.NaN) };
  };
  const before = await savesNow();
  // Another save or an AOF rewrite may hold the fork: ask again until the server takes it.
  for (const deadline = Date.now() + 120_000; ; ) {
    const answer = await client.bgsave().then(
      () => "started",
      (error: Error) => error.message,
    );
    if (answer === "started") break;
    if (!/in progress|child process/i.test(answer)) throw new Error(`BGSAVE refused: ${answer}`);
    if (Date.now() > deadline) throw new Error(`BGSAVE could not start within 120 s: ${answer}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  const lastSaveBefore = Number(before.persistence.rdb_last_save_time);
  for (const deadline = Date.now() + 600_000; ; ) {
    const now = await savesNow();
    if (now.persistence.rdb_bgsave_in_progress === "0") {
      if (now.persistence.rdb_last_bgsave_status !== "ok")
        throw new Error(`BGSAVE failed: rdb_last_bgsave_status ${now.persistence.rdb_last_bgsave_status}`);
      const done = Number.isNaN(now.saves)
        ? Number(now.persistence.rdb_last_save_time) > lastSaveBefore
        : now.saves > before.saves;
      if (done) return { saves: now.saves };
    }
    if (Date.now() > deadline) throw new Error("the background save did not finish within 600 s");
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

export const sha256Of = async (file: string) => {
  const hash = createHash("sha256");
  await pipeline(createReadStream(file), hash);
  return hash.digest("hex");
};

/**
 * Backs a release up: a fresh RDB saved on a replica that is in sync (the primary keeps
 * serving without the fork), copied out through the API server with its checksum compared
 * on both ends, and a record beside it with the dataset's digest. Works on any cluster the
 * kubeconfig reaches; needs `pods/exec` and `pods/portforward` in the release's namespace.
 */
export async function backupRelease(options: BackupOptions): Promise<BackupRecord> {
  const { kube, namespace, release, credentials, file } = options;
  const log = options.log ?? console.log;
  const started = performance.now();
  const set = await releaseStatefulSet(kube, namespace, release);
  const pods = (await podsOf(kube, set)).map((p) => p.metadata?.name as string);
  const container = set.spec?.template.spec?.containers[0]?.name as string;
  const roles = await Promise.all(
    pods.map(async (pod) => ({
      pod,
      replication: await withPodClient(kube, namespace, pod, credentials, (c) => info(c, "replication")),
    })),
  );
  const source =
    roles.find((r) => r.replication.role === "slave" && r.replication.master_link_status === "up") ??
    roles.find((r) => r.replication.role === "master");
  if (!source) throw new Error(`release ${release}: no replica in sync and no primary among ${pods.join(", ")}`);
  const role = source.replication.role === "slave" ? "replica" : "primary";
  log(`[backup] ${namespace}/${release}: saving an RDB on ${source.pod} (${role})`);

  const saveStarted = performance.now();
  const snapshot = await withPodClient(kube, namespace, source.pod, credentials, async (client) => {
    const before = await datasetDigest(client);
    const { saves } = await freshSave(client);
    const after = await datasetDigest(client);
    const config = (name: string) => client.config("GET", name).then((r) => (r as string[])[1] as string);
    return {
      before,
      after,
      path: `${await config("dir")}/${await config("dbfilename")}`,
      saves,
      version: await info(client, "server").then((server) => server.valkey_version ?? server.redis_version ?? "?"),
    };
  });
  const save = (performance.now() - saveStarted) / 1000;

  const copyStarted = performance.now();
  const partial = `${file}.partial`;
  try {
    const copy = createWriteStream(partial);
    await execStreams(kube, namespace, source.pod, container, ["cat", snapshot.path], { stdout: copy });
    if (!copy.writableEnded) copy.end();
    await finished(copy);
    const sha256 = await sha256Of(partial);
    const remoteSum = (await execOutput(kube, namespace, source.pod, container, ["sha256sum", snapshot.path])).split(
      /\s/,
    )[0];
    if (remoteSum !== sha256)
      throw new Error(
        `the copy of ${snapshot.path} differs from the file in ${source.pod} (sha256 ${sha256} vs ${remoteSum})`,
      );
    // A scheduled save or a resync may have rewritten the file after ours: then the digest describes another moment.
    const savesAfterCopy = await withPodClient(kube, namespace, source.pod, credentials, (c) =>
      info(c, "persistence").then((p) => Number(p.rdb_saves ?? Number.NaN)),
    );
    if (!Number.isNaN(snapshot.saves) && savesAfterCopy !== snapshot.saves)
      throw new Error(
        `${snapshot.path} on ${source.pod} was saved again while it was copied (a scheduled save or a resync): run the backup again`,
      );
    renameSync(partial, file);
    const record: BackupRecord = {
      release,
      namespace,
      pod: source.pod,
      role,
      takenAt: new Date().toISOString(),
      valkeyVersion: snapshot.version,
      bytes: statSync(file).size,
      sha256,
      keys: snapshot.after.keys,
      ...(snapshot.before.digest === snapshot.after.digest
        ? { digest: snapshot.after.digest }
        : { digestNote: "the dataset changed during the save: the RDB holds one moment of it, no digest to compare" }),
      seconds: { save, copy: (performance.now() - copyStarted) / 1000, total: (performance.now() - started) / 1000 },
    };
    writeFileAtomic(`${file}.json`, `${JSON.stringify(record, null, 2)}\n`);
    return record;
  } finally {
    rmSync(partial, { force: true });
  }
}
