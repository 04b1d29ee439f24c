/**
 * npm run measure:restart: what a polite primary restart costs an environment: pod 0
 * deleted under an acknowledged writer, several times; the pod's own restart, the writes'
 * outage, full and partial resyncs, and the acknowledged writes looked up on every pod.
 * Values layers (--values) try a candidate setting beside the environment's own.
 */

import { existsSync } from "node:fs";
import { basename } from "node:path";
import { Helm } from "../chart/helm.ts";
import { installRelease } from "../chart/release.ts";
import { Cluster, type StartedCluster, startCluster, useExistingCluster } from "../cluster/index.ts";
import { measurePrimaryRestart, type PrimaryRestart } from "../durability/restart.ts";
import { environments } from "../environments.ts";
import { markdownTable, writeReport } from "../report/index.ts";
import { setting } from "../settings.ts";
import { median } from "../stats.ts";
import { type CommandSpec, fail, parseCommandLine, runMain, wholeOption } from "./args.ts";

const spec: CommandSpec = {
  invocation: "npm run measure:restart --",
  description:
    "Installs an environment (on VALKEY_KUBECONFIG's cluster, else a cluster of its own) and deletes its primary pod --runs times under an acknowledged writer: the pod's own restart, the longest stretch without an acknowledged write, full and partial resyncs, and every acknowledged write looked up on every pod. Prints each run and the medians; writes reports/restart-<env>[-<label>].{json,md}.",
  options: {
    env: { value: "ENV", description: "the environment", default: "dev-01" },
    runs: { value: "N", description: "restarts to measure (1-20)", default: "5" },
    values: { value: "FILES", description: "comma-separated values layers applied after the environment's file" },
    label: { value: "NAME", description: "the candidate's name in the report", default: "the values files' names" },
  },
  epilogue: ["example: npm run measure:restart -- --env prod-01 --runs 3"],
};

const { options } = parseCommandLine(spec);
const env = typeof options.env === "string" ? options.env : "dev-01";
if (!environments().includes(env)) fail(spec, `--env ${env}: not an environment (${environments().join(", ")})`);
const runs = wholeOption(spec, "runs", options.runs, 1, 20, 5);
const layers = typeof options.values === "string" ? options.values.split(",") : [];
for (const file of layers) if (!existsSync(file)) fail(spec, `--values ${file}: no such file`);
const label =
  typeof options.label === "string" ? options.label : layers.map((f) => basename(f, ".yaml")).join("+") || "chart";

runMain(async () => {
  const kubeconfig = setting("VALKEY_KUBECONFIG");
  const started: StartedCluster | undefined = kubeconfig ? undefined : await startCluster();
  const info = started ? started.info : await useExistingCluster(kubeconfig as string);
  const cluster = await Cluster.connect(info);
  const namespace = `restart-${env}-${Math.random().toString(36).slice(2, 7)}`;
  const results: PrimaryRestart[] = [];
  try {
    const helm = await Helm.fromSettings();
    await cluster.kube.createNamespace(namespace);
    const release = await installRelease(helm, cluster, { env, namespace, extraValuesFiles: layers });
    try {
      for (let run = 1; run <= runs; run++) {
        const result = await measurePrimaryRestart(release);
        results.push(result);
        const { timeline, ...figures } = result;
        console.log(`[restart ${env} ${label}] run ${run}: ${JSON.stringify(figures)}`);
        for (const line of timeline) console.log(`[restart ${env} ${label}]   ${line}`);
      }
    } finally {
      await release.uninstall().catch((error: Error) => console.error(`[restart] uninstall: ${error.message}`));
    }
  } finally {
    await cluster.kube.deleteNamespace(namespace).catch(() => undefined);
    await started?.stop();
  }
  const pick = (key: keyof PrimaryRestart) => results.map((r) => r[key] as number);
  const summary = {
    env,
    candidate: label,
    runs,
    writesUnavailableSeconds: {
      median: median(pick("writesUnavailableSeconds")),
      runs: pick("writesUnavailableSeconds"),
    },
    podReadySeconds: { median: median(pick("podReadySeconds")), runs: pick("podReadySeconds") },
    beyondPodRestartSeconds: { median: median(pick("beyondPodRestartSeconds")), runs: pick("beyondPodRestartSeconds") },
    fullResyncs: pick("fullResyncs"),
    partialResyncs: pick("partialResyncs"),
    lost: pick("lost"),
  };
  const markdown = [
    `### Primary restarts of ${env}: ${label}`,
    "",
    markdownTable(
      [
        "run",
        "pod Ready s",
        "writes unavailable s",
        "beyond the pod's restart s",
        "resyncs full / partial",
        "acknowledged",
        "lost",
      ],
      results.map((r, i) => [
        i + 1,
        r.podReadySeconds,
        r.writesUnavailableSeconds,
        r.beyondPodRestartSeconds,
        `${r.fullResyncs} / ${r.partialResyncs}`,
        r.acknowledged,
        `${r.lost} (${r.lostWhere})`,
      ]),
    ),
    "",
    `Medians: writes unavailable ${summary.writesUnavailableSeconds.median} s, the pod's own restart ${summary.podReadySeconds.median} s, beyond it ${summary.beyondPodRestartSeconds.median} s.`,
  ].join("\n");
  const timelines = results.flatMap((r, i) => [
    "",
    `#### Run ${i + 1}: where the time went (seconds since pod 0 was deleted)`,
    "",
    "```",
    ...r.timeline,
    "```",
  ]);
  writeReport(
    `restart-${env}${label === "chart" ? "" : `-${label}`}`,
    { summary, results },
    [markdown, ...timelines].join("\n"),
  );
  console.log(markdown);
  if (results.some((r) => r.lost > 0)) process.exitCode = 1;
});
