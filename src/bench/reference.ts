import { BatchV1Api } from "@kubernetes/client-node";
import type { Cluster } from "../cluster/index.ts";
import { waitFor } from "../kube/index.ts";
import { runOrThrow } from "../process.ts";
import type { LoadSettings } from "./load.ts";

/** What valkey-benchmark reports for one command (its --csv output). */
export interface ReferenceResult {
  command: string;
  opsPerSecond: number;
  latencyMillis: { avg: number; p50: number; p95: number; p99: number; max: number };
}

/** valkey-benchmark arguments equal to a load's connections, pipeline, value size, key space and bound. */
export function referenceArgs(settings: LoadSettings, host: string, port: number, command: "get" | "set"): string[] {
  return [
    "-h",
    host,
    "-p",
    String(port),
    "-c",
    String(settings.connections),
    "-P",
    String(settings.pipeline),
    "-d",
    String(settings.valueBytes),
    "-r",
    String(settings.keySpace),
    "-n",
    String(settings.maxOperations),
    "-t",
    command,
    "--csv",
  ];
}

export function parseBenchmarkCsv(csv: string): ReferenceResult {
  const lines = csv
    .trim()
    .split("\n")
    .filter((line) => line.startsWith('"'));
  const row = lines
    .at(-1)
    ?.split(",")
    .map((cell) => cell.replaceAll('"', ""));
  if (!row || row.length < 8 || Number.isNaN(Number(row[1]))) {
    throw new Error(`valkey-benchmark printed no result row:\n${csv.slice(-500)}`);
  }
  const n = (i: number) => Number(row[i]);
  return {
    command: row[0] as string,
    opsPerSecond: n(1),
    latencyMillis: { avg: n(2), p50: n(4), p95: n(5), p99: n(6), max: n(7) },
  };
}

/** valkey-benchmark on the host, through the same 127.0.0.1 address as the generator. */
export async function benchmarkFromHost(
  image: string,
  settings: LoadSettings,
  port: number,
  command: "get" | "set",
): Promise<ReferenceResult> {
  const output = await runOrThrow(
    "docker",
    [
      "run",
      "--rm",
      "--network",
      "host",
      "--entrypoint",
      "valkey-benchmark",
      image,
      ...referenceArgs(settings, "127.0.0.1", port, command),
    ],
    { timeoutMs: (settings.maxSeconds + 60) * 1000 },
  );
  return parseBenchmarkCsv(output);
}

/** valkey-benchmark as a Job inside the cluster, against the primary Service: no host path at all. */
export async function benchmarkInCluster(
  cluster: Cluster,
  namespace: string,
  image: string,
  service: string,
  settings: LoadSettings,
  command: "get" | "set",
): Promise<ReferenceResult> {
  const batch = cluster.kube.config.makeApiClient(BatchV1Api);
  const name = `valkey-benchmark-${command}-${Date.now().toString(36)}`;
  await batch.createNamespacedJob({
    namespace,
    body: {
      metadata: { name },
      spec: {
        backoffLimit: 0,
        activeDeadlineSeconds: settings.maxSeconds + 60,
        template: {
          spec: {
            restartPolicy: "Never",
            containers: [
              {
                name: "benchmark",
                image,
                imagePullPolicy: "IfNotPresent",
                command: [
                  "valkey-benchmark",
                  ...referenceArgs(settings, `${service}.${namespace}.svc.cluster.local`, 6379, command),
                ],
              },
            ],
          },
        },
      },
    },
  });
  try {
    await waitFor(
      `Job ${name} to finish`,
      async () => {
        const job = await batch.readNamespacedJob({ name, namespace });
        if (job.status?.failed) throw new Error(`Job ${name} failed`);
        return (job.status?.succeeded ?? 0) > 0;
      },
      { timeoutMs: (settings.maxSeconds + 90) * 1000, intervalMs: 1000 },
    );
    const [pod] = await cluster.kube.pods(namespace, `job-name=${name}`);
    const log = await cluster.kube.core.readNamespacedPodLog({ namespace, name: pod?.metadata?.name ?? "" });
    return parseBenchmarkCsv(String(log));
  } finally {
    await batch.deleteNamespacedJob({ name, namespace, propagationPolicy: "Background" }).catch(() => undefined);
  }
}
