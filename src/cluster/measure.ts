/**
 * Measures the test cluster: warm image preparation, start of the server and its agents
 * until every node is Ready (the server has printed k3s's marker line by then), idle
 * memory of the server node and of an agent node, and the install of the upstream chart
 * in replica mode until every pod is Ready. Runs each `--runs` times (default 3) and
 * prints medians. VALKEY_CLUSTER_AGENTS sets the agents (default 3; the README's
 * three-node numbers ran with 2).
 *
 *   npm run measure:cluster [-- --runs 5]
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Helm } from "../chart/helm.ts";
import { installUpstreamChart, offlineImageValues } from "../chart/upstream.ts";
import { pinnedUpstreamVersion } from "../chart/wrapper.ts";
import { ensureImages } from "../images/index.ts";
import { runOrThrow } from "../process.ts";
import { median } from "../report/bench.ts";
import { ClusterClient } from "./client.ts";
import { startCluster } from "./index.ts";

function parseRuns(argv: string[]): number {
  const index = argv.indexOf("--runs");
  if (index < 0) return 3;
  const runs = Number(argv[index + 1]);
  if (!Number.isInteger(runs) || runs < 1 || runs > 20) {
    throw new Error(`--runs ${argv[index + 1]} is not valid: give a whole number from 1 to 20`);
  }
  return runs;
}

/** Resident memory of every process in the node container (control plane, kubelet, pods), in MiB. */
async function nodeMemoryMiB(containerId: string): Promise<number> {
  const rss = await runOrThrow("docker", ["exec", containerId, "ps", "-e", "-o", "rss="]);
  return rss.split("\n").reduce((sum, line) => sum + (Number(line.trim()) || 0), 0) / 1024;
}

const runs = parseRuns(process.argv.slice(2));
const samples: Record<string, number[]> = {
  prepareSeconds: [],
  startSeconds: [],
  serverMemoryMiB: [],
  agentMemoryMiB: [],
  installSeconds: [],
};
const helm = await Helm.fromSettings();
const quiet = () => {};

for (let run = 1; run <= runs; run++) {
  let started = performance.now();
  const images = await ensureImages(quiet);
  samples.prepareSeconds?.push((performance.now() - started) / 1000);

  started = performance.now();
  const cluster = await startCluster({ log: quiet });
  try {
    samples.startSeconds?.push(cluster.info.startSeconds ?? (performance.now() - started) / 1000);
    await new Promise((resolve) => setTimeout(resolve, 20_000)); // let start-up settle before "idle"
    const memory = await Promise.all(
      (cluster.info.nodes ?? []).map(async (node) => ({ ...node, mib: await nodeMemoryMiB(node.containerId) })),
    );
    samples.serverMemoryMiB?.push(memory.find((node) => node.role === "server")?.mib ?? Number.NaN);
    const agents = memory.filter((node) => node.role === "agent").map((node) => node.mib);
    if (agents.length > 0) samples.agentMemoryMiB?.push(median(agents));

    const client = await ClusterClient.connect(cluster.info);
    await client.kube.createNamespace("measure");
    const offline = offlineImageValues(images);
    started = performance.now();
    await installUpstreamChart(helm, client.kubeconfigPath, {
      namespace: "measure",
      version: pinnedUpstreamVersion(),
      values: {
        ...offline,
        replica: { enabled: true, replicas: 2, minReplicasToWrite: 1, persistence: { size: "1Gi" } },
        metrics: { ...offline.metrics, enabled: true },
      },
    });
    samples.installSeconds?.push((performance.now() - started) / 1000);
  } finally {
    await cluster.stop();
  }
  console.log(
    `run ${run}/${runs}: ${Object.entries(samples)
      .map(([name, values]) => `${name}=${values.at(-1)?.toFixed(1)}`)
      .join(" ")}`,
  );
}

const result = {
  measuredAt: new Date().toISOString(),
  runs,
  helm: helm.version,
  upstreamChart: pinnedUpstreamVersion(),
  medians: Object.fromEntries(
    Object.entries(samples).map(([name, values]) => [name, Number(median(values).toFixed(1))]),
  ),
  samples,
};
mkdirSync("reports", { recursive: true });
const file = join("reports", `cluster-${result.measuredAt.replace(/[:.]/g, "-")}.json`);
writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
console.log(JSON.stringify(result.medians), `-> ${file}`);
