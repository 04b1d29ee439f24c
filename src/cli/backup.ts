/**
 * npm run backup / npm run restore: a release's dataset saved as an RDB file, and put
 * back into a release (src/backup/).
 */
import { existsSync } from "node:fs";
import { dirname } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { backupRelease } from "../backup/backup.ts";
import { RestoreRefused, restoreRelease } from "../backup/restore.ts";
import { Kube } from "../kube/index.ts";
import { type CommandSpec, fail, parseCommandLine, runMain } from "./args.ts";

const mode = process.argv[2] === "restore" ? "restore" : "backup";
process.argv.splice(2, 1);

const common = {
  namespace: { value: "NAMESPACE", description: "the release's namespace" },
  release: { value: "NAME", description: "the Helm release (its StatefulSet carries app.kubernetes.io/instance=NAME)" },
  kubeconfig: { value: "FILE", description: "the cluster", default: "$KUBECONFIG, else ~/.kube/config" },
  user: {
    value: "NAME",
    description: "the ACL user to connect as when the release has authentication",
    default: "default",
  },
};
const spec: CommandSpec =
  mode === "backup"
    ? {
        invocation: "npm run backup --",
        positionals: "<file.rdb>",
        description:
          "Saves a fresh RDB on a replica of the release that is in sync (the primary keeps serving; the primary if there is no replica), copies it out through the API server (pods/exec, pods/portforward) with its sha256 compared on both ends, and writes <file.rdb>.json: size, checksum, key count, the dataset's digest, the times. The password, when the release has authentication, comes from VALKEY_PASSWORD.",
        options: common,
        epilogue: [
          "example: VALKEY_PASSWORD=... npm run backup -- --namespace cache --release valkey valkey-2026-12-05.rdb",
        ],
      }
    : {
        invocation: "npm run restore --",
        positionals: "<file.rdb>",
        description:
          "Restores a backup into a release: refuses when the release holds keys unless --force; scales its StatefulSet to 0, empties every pod's data volume and writes the RDB onto pod 0's, scales back (the chart's init container turns the RDB into the append-only file; the replicas resync), then compares the dataset's digest with the backup's record. The password comes from VALKEY_PASSWORD.",
        options: {
          ...common,
          force: { description: "replace a dataset the release already holds" },
        },
        epilogue: ["example: npm run restore -- --namespace cache-restored --release valkey valkey-2026-12-05.rdb"],
      };

const { options, positionals } = parseCommandLine(spec);
const text = (name: string) => (typeof options[name] === "string" ? (options[name] as string) : undefined);
const namespace = text("namespace") ?? fail(spec, "--namespace is required: the release's namespace");
const release = text("release") ?? fail(spec, "--release is required: the Helm release's name");
if (positionals.length !== 1) fail(spec, "give one backup file");
const file = positionals[0] as string;
if (mode === "backup" && !existsSync(dirname(file) || ".")) fail(spec, `${file}: its folder does not exist`);
if (mode === "restore" && !existsSync(file)) fail(spec, `${file}: no such backup file`);
const kubeconfig = text("kubeconfig");
if (kubeconfig && !existsSync(kubeconfig)) fail(spec, `--kubeconfig ${kubeconfig}: no such file`);

runMain(async () => {
  const config = new KubeConfig();
  if (kubeconfig) config.loadFromFile(kubeconfig);
  else config.loadFromDefault();
  const kube = new Kube(config);
  const credentials = { username: text("user"), password: process.env.VALKEY_PASSWORD };
  if (mode === "backup") {
    const record = await backupRelease({ kube, namespace, release, credentials, file });
    console.log(
      `[backup] ${file}: ${record.bytes} bytes, ${record.keys} keys from ${record.pod} (${record.role}), sha256 ${record.sha256}, save ${record.seconds.save.toFixed(1)} s, copy ${record.seconds.copy.toFixed(1)} s; record in ${file}.json`,
    );
    return;
  }
  try {
    const result = await restoreRelease({ kube, namespace, release, credentials, file, force: options.force === true });
    console.log(
      `[restore] ${namespace}/${release}: ${result.keys} keys, digest ${result.digestMatches === undefined ? "not recorded by the backup" : result.digestMatches ? "equal to the backup's" : "DIFFERENT from the backup's"}; stopped ${result.seconds.stopped.toFixed(1)} s, written ${result.seconds.written.toFixed(1)} s, ready ${result.seconds.ready.toFixed(1)} s`,
    );
    if (result.digestMatches === false) process.exitCode = 1;
  } catch (error) {
    if (error instanceof RestoreRefused) fail(spec, error.message);
    throw error;
  }
});
