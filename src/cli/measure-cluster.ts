/**
 * npm run measure:cluster: starts the test cluster several times and measures warm image
 * preparation, the start until every node is Ready, idle memory per node, and the install
 * of the upstream chart in replica mode until every pod is Ready. Prints medians and writes
 * reports/cluster-<time>.json.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Helm } from "../chart/helm.ts";
import { harnessImageValues, installUpstreamChart } from "../chart/upstream.ts";
import { pinnedUpstreamVersion } from "../chart/wrapper.ts";
import { containerMemoryMiB } from "../cluster/docker.ts";
import { Cluster, startCluster } from "../cluster/index.ts";
import { ensureImages } from "../images/index.ts";
import { REPORTS } from "../report/index.ts";
import { setting } from "../settings.ts";
import { median } from "../stats.ts";
import { type CommandSpec, parseCommandLine, runMain, wholeOption } from "./args.ts";

const spec: CommandSpec = {
  invocation: "npm run measure:cluster --",
  description:
    "Starts the harness's cluster --runs times (VALKEY_CLUSTER_AGENTS agents) and measures: warm image preparation, container start until every node is Ready, idle memory of the server and of an agent (RSS of every process in the node, 20 s after start), and the upstream chart installed in replica mode until every pod is Ready. Prints medians; writes reports/cluster-<time>.json.",
  options: {
    runs: { value: "N", description: "starts to measure (1-20)", default: "3" },
    "skip-install": { description: "measure the cluster only, not the upstream chart's install" },
  },
};

const { options } = parseCommandLine(spec);
const runs = wholeOption(spec, "runs", options.runs, 1, 20, 3);

runMain(async () => {
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
    const cluster = await startCluster({ log: quiet });
    try {
      samples.startSeconds?.push(cluster.info.startSeconds ?? Number.NaN);
      await new Promise((resolve) => setTimeout(resolve, 20_000)); // let start-up settle before "idle"
      const memory = await Promise.all(
        (cluster.info.nodes ?? []).map(async (node) => ({ ...node, mib: await containerMemoryMiB(node.containerId) })),
      );
      samples.serverMemoryMiB?.push(memory.find((node) => node.role === "server")?.mib ?? Number.NaN);
      const agents = memory.filter((node) => node.role === "agent").map((node) => node.mib);
      if (agents.length > 0) samples.agentMemoryMiB?.push(median(agents));
      if (!options["skip-install"]) {
        const connected = await Cluster.connect(cluster.info);
        await connected.kube.createNamespace("measure");
        const offline = harnessImageValues(images);
        started = performance.now();
        await installUpstreamChart(helm, connected.kubeconfigPath, {
          namespace: "measure",
          version: pinnedUpstreamVersion(),
          values: {
            ...offline,
            replica: { enabled: true, replicas: 2, minReplicasToWrite: 1, persistence: { size: "1Gi" } },
            metrics: { ...offline.metrics, enabled: true },
          },
        });
        samples.installSeconds?.push((performance.now() - started) / 1000);
      }
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
    nodes: 1 + setting("VALKEY_CLUSTER_AGENTS"),
    helm: helm.version,
    upstreamChart: pinnedUpstreamVersion(),
    medians: Object.fromEntries(
      Object.entries(samples)
        .filter(([, values]) => values.length > 0)
        .map(([name, values]) => [name, Number(median(values).toFixed(1))]),
    ),
    samples,
  };
  mkdirSync(REPORTS, { recursive: true });
  const file = join(REPORTS, `cluster-${result.measuredAt.replace(/[:.]/g, "-")}.json`);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  console.log(JSON.stringify(result.medians), `-> ${file}`);
});
