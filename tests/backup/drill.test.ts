import { statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect } from "vitest";
import { backupRelease } from "../../src/backup/backup.ts";
import { datasetDigest } from "../../src/backup/dataset.ts";
import { RestoreRefused, restoreRelease } from "../../src/backup/restore.ts";
import type { Release } from "../../src/chart/release.ts";
import { scratchDir } from "../../src/files.ts";
import { markdownTable, writeReport } from "../../src/report/index.ts";
import { withClient } from "../../src/valkey/index.ts";
import { clusterUnavailable, test } from "../support/fixtures.ts";

const ENV = "dev-01";
const KEYS = 5_000;

/** Strings, hashes and lists of varied sizes: what the drill backs up and must find again. */
async function writeDataset(release: Release): Promise<void> {
  await withClient(await release.endpoint("primary"), release.clientCredentials, async (client) => {
    for (let start = 0; start < KEYS; start += 500) {
      const pipeline = client.pipeline();
      for (let i = start; i < start + 500; i++) {
        if (i % 10 === 0) pipeline.hset(`drill:hash:${i}`, { field: `v${i}`, other: "x".repeat(i % 200) });
        else if (i % 10 === 1) pipeline.rpush(`drill:list:${i}`, `a${i}`, `b${i}`, `c${i}`);
        else pipeline.set(`drill:string:${i}`, `${i}:${"v".repeat(i % 1_000)}`);
      }
      await pipeline.exec();
    }
    // Every replica holds the dataset before the backup looks for one in sync.
    expect(await client.wait(release.replicas, 10_000), "replicas that acknowledged the dataset").toBe(
      release.replicas,
    );
  });
}

async function keysOnEveryPod(release: Release): Promise<number[]> {
  const counts: number[] = [];
  for (let i = 0; i <= release.replicas; i++)
    counts.push(await withClient(await release.endpoint(i), release.clientCredentials, (c) => c.dbsize()));
  return counts;
}

/**
 * The backup-and-restore drill: a release's dataset saved as an RDB on a replica, copied
 * out through the API server, and restored into a fresh release, where the dataset's
 * digest must equal the backup's on every pod. A restore into a release that holds data
 * is refused unless forced.
 */
describe.skipIf(!!clusterUnavailable)(`${ENV}: backed up from one release and restored into another`, () => {
  test("the restored release holds the backed-up dataset, key for key, on every pod; a release holding data is refused unless forced", async ({
    cluster,
    releases,
  }) => {
    const [source, target] = await Promise.all([
      releases.get({ env: ENV, instance: "backup-source" }),
      releases.get({ env: ENV, instance: "backup-target" }),
    ]);
    await writeDataset(source);
    const file = join(scratchDir("backup-"), `${ENV}.rdb`);
    const log = (line: string) => console.log(line);

    const record = await backupRelease({
      kube: cluster.kube,
      namespace: source.namespace,
      release: source.name,
      credentials: source.clientCredentials,
      file,
      log,
    });
    expect(record.role, "saved on a replica in sync, not on the serving primary").toBe("replica");
    expect(record.keys).toBe(KEYS);
    expect(record.digest, record.digestNote).toBeDefined();
    expect(statSync(file).size).toBe(record.bytes);

    // The target holds one key: a restore without --force must not replace it.
    await withClient(await target.endpoint("primary"), target.clientCredentials, (c) => c.set("drill:existing", "1"));
    const restore = (force: boolean) =>
      restoreRelease({
        kube: cluster.kube,
        namespace: target.namespace,
        release: target.name,
        credentials: target.clientCredentials,
        file,
        force,
        log,
      });
    const refusal = await restore(false).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(RestoreRefused);
    expect(String(refusal)).toMatch(/holds 1 key\(s\).*--force/);

    const result = await restore(true);
    expect(result.digestMatches, `restored digest ${result.digest}, backup's ${record.digest}`).toBe(true);
    expect(result.keys).toBe(KEYS);
    expect(await keysOnEveryPod(target)).toEqual(Array(target.replicas + 1).fill(KEYS));
    const onReplicas = [];
    for (let i = 1; i <= target.replicas; i++)
      onReplicas.push(
        (await withClient(await target.endpoint(i), target.clientCredentials, datasetDigest)).digest === record.digest,
      );
    expect(onReplicas, "every replica's digest equals the backup's").toEqual(Array(target.replicas).fill(true));
    expect(
      await cluster.kube.pods(target.namespace, "app.kubernetes.io/managed-by=valkey-harness-restore"),
      "the restore's helper pods are gone",
    ).toEqual([]);

    // The digest can fail: one more key on the restored release and it differs.
    await withClient(await target.endpoint("primary"), target.clientCredentials, async (c) => {
      await c.set("drill:one-more", "x");
      expect((await datasetDigest(c)).digest).not.toBe(record.digest);
    });

    const figures = [
      ["keys", KEYS],
      ["RDB size", `${record.bytes} bytes`],
      ["backup: BGSAVE on the replica", `${record.seconds.save.toFixed(1)} s`],
      ["backup: copy out through the API server", `${record.seconds.copy.toFixed(1)} s`],
      ["backup in all", `${record.seconds.total.toFixed(1)} s`],
      ["restore: StatefulSet scaled to 0", `${result.seconds.stopped.toFixed(1)} s`],
      ["restore: volumes emptied, RDB written", `${(result.seconds.written - result.seconds.stopped).toFixed(1)} s`],
      [
        "restore: every pod Ready, replicas attached",
        `${(result.seconds.ready - result.seconds.written).toFixed(1)} s`,
      ],
      ["restore in all", `${result.seconds.total.toFixed(1)} s`],
    ];
    const markdown = `# Backup and restore drill (${ENV})\n\n${markdownTable(["what", "measured"], figures)}\n\nDigest of the restored dataset equal to the backup's on every pod: yes.\n`;
    writeReport(`backup-${ENV}`, { record, result }, markdown);
    console.log(markdown);
  });
});
