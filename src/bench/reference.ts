import { BatchV1Api } from "@kubernetes/client-node";
import { type Cluster, RESTRICTED_CONTAINER, restrictedPod } from "../cluster/index.ts";
import { waitFor } from "../kube/index.ts";
import { run } from "../process.ts";
import type { Credentials } from "../valkey/index.ts";
import type { LoadSettings } from "./load.ts";

/** What valkey-benchmark reports for one command (its --csv output), and the CPU it used. */
export interface ReferenceResult {
  command: string;
  opsPerSecond: number;
  latencyMillis: { avg: number; p50: number; p95: number; p99: number; max: number };
  /** valkey-benchmark's own CPU (user + system seconds), from the shell's `times`. */
  cpuSeconds: number;
  wallSeconds: number;
}

/**
 * valkey-benchmark arguments for a load's connections, pipeline, value size, key space and
 * bound, authenticated like the generator. `-r` makes it read keys named `key:` + 12 digits,
 * the key space the cache workloads preload on every path.
 */
export function referenceArgs(
  settings: LoadSettings,
  host: string,
  port: number,
  command: "get" | "set",
  credentials: Credentials = {},
): string[] {
  return [
    "-h",
    host,
    "-p",
    String(port),
    ...(credentials.password
      ? [...(credentials.username ? ["--user", credentials.username] : []), "-a", credentials.password]
      : []),
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

/** A shell line that runs valkey-benchmark bounded in time and prints its CPU use after it. */
function boundedScript(args: string[], maxSeconds: number): string {
  const quoted = args.map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(" ");
  return `timeout ${Math.ceil(maxSeconds)} valkey-benchmark ${quoted} 2>&1; rc=$?; echo "--- times"; times; exit $rc`;
}

/** Parses valkey-benchmark's --csv result and the CPU lines; fails on any error it printed. */
export function parseBenchmarkOutput(output: string, wallSeconds = 0): ReferenceResult {
  const [benchmark = "", times = ""] = output.split("--- times");
  const errors = benchmark
    .split("\n")
    .filter((line) => /error|could not connect|refused|NOAUTH|WRONGPASS|NOPERM/i.test(line));
  if (errors.length > 0) throw new Error(`valkey-benchmark reported errors:\n${errors.slice(0, 5).join("\n")}`);
  const rows = benchmark
    .trim()
    .split("\n")
    .filter((line) => line.startsWith('"'));
  const row = rows
    .at(-1)
    ?.split(",")
    .map((cell) => cell.replaceAll('"', ""));
  if (!row || row.length < 8 || Number.isNaN(Number(row[1]))) {
    throw new Error(`valkey-benchmark printed no result row:\n${benchmark.slice(-500)}`);
  }
  const n = (i: number) => Number(row[i]);
  // `times`: the shell's user/system time, then its children's (valkey-benchmark's).
  const seconds = (field: string) => {
    const match = /(\d+)m([\d.]+)s/.exec(field);
    return match ? Number(match[1]) * 60 + Number(match[2]) : 0;
  };
  const children = times.trim().split("\n")[1]?.trim().split(/\s+/) ?? [];
  return {
    command: row[0] as string,
    opsPerSecond: n(1),
    latencyMillis: { avg: n(2), p50: n(4), p95: n(5), p99: n(6), max: n(7) },
    cpuSeconds: Number((seconds(children[0] ?? "") + seconds(children[1] ?? "")).toFixed(3)),
    wallSeconds,
  };
}

/** valkey-benchmark on the host, through the same 127.0.0.1 address as the generator. */
export async function benchmarkFromHost(
  image: string,
  settings: LoadSettings,
  port: number,
  command: "get" | "set",
  credentials: Credentials = {},
): Promise<ReferenceResult> {
  const started = performance.now();
  const result = await run(
    "docker",
    [
      "run",
      "--rm",
      "--network",
      "host",
      "--entrypoint",
      "sh",
      image,
      "-c",
      boundedScript(referenceArgs(settings, "127.0.0.1", port, command, credentials), settings.maxSeconds + 30),
    ],
    { timeoutMs: (settings.maxSeconds + 60) * 1000 },
  );
  if (result.code !== 0)
    throw new Error(
      `valkey-benchmark on the host exited with ${result.code}:\n${(result.stdout + result.stderr).slice(-800)}`,
    );
  return parseBenchmarkOutput(result.stdout, (performance.now() - started) / 1000);
}

/** valkey-benchmark as a Job inside the cluster, against the primary Service: no host path at all. */
export async function benchmarkInCluster(
  cluster: Cluster,
  namespace: string,
  image: string,
  service: string,
  settings: LoadSettings,
  command: "get" | "set",
  credentials: Credentials = {},
): Promise<ReferenceResult> {
  const batch = cluster.kube.config.makeApiClient(BatchV1Api);
  const name = `valkey-benchmark-${command}-${Date.now().toString(36)}`;
  const args = referenceArgs(settings, `${service}.${namespace}.svc`, 6379, command, credentials);
  await batch.createNamespacedJob({
    namespace,
    body: {
      metadata: { name },
      spec: {
        backoffLimit: 0,
        activeDeadlineSeconds: settings.maxSeconds + 60,
        template: {
          metadata: { labels: { "valkey-client": "true" } },
          spec: {
            restartPolicy: "Never",
            automountServiceAccountToken: false,
            // The release's namespace enforces the Pod Security Standard restricted.
            securityContext: restrictedPod(1000),
            containers: [
              {
                name: "benchmark",
                image,
                imagePullPolicy: "IfNotPresent",
                securityContext: RESTRICTED_CONTAINER,
                command: ["sh", "-c", boundedScript(args, settings.maxSeconds + 30)],
              },
            ],
          },
        },
      },
    },
  });
  const started = performance.now();
  try {
    await waitFor(
      `Job ${name} to finish`,
      async () => {
        const job = await batch.readNamespacedJob({ name, namespace });
        if (job.status?.failed) throw new Error(`Job ${name} failed`);
        return (job.status?.succeeded ?? 0) > 0;
      },
      { timeoutMs: (settings.maxSeconds + 90) * 1000, intervalMs: 500 },
    );
    const [pod] = await cluster.kube.pods(namespace, `job-name=${name}`);
    const log = await cluster.kube.core.readNamespacedPodLog({ namespace, name: pod?.metadata?.name ?? "" });
    return parseBenchmarkOutput(String(log), (performance.now() - started) / 1000);
  } finally {
    await batch.deleteNamespacedJob({ name, namespace, propagationPolicy: "Background" }).catch(() => undefined);
  }
}
