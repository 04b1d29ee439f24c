import type { NodeUpgradeStep } from "../cluster/node-upgrade.ts";
import type { RolloutObservation } from "../upgrade/rollout.ts";
import { markdownTable, writeReport } from "./index.ts";
import type { SettingVerdict } from "./upgrade.ts";

/** One node's upgrade, and what the release's clients saw meanwhile. */
export interface ClusterUpgradeStep {
  node: string;
  role: "server" | "agent";
  /** Undefined when the node's upgrade failed before it finished. */
  upgrade?: NodeUpgradeStep;
  observation: RolloutObservation;
  /** The release's pods replaced during the step (those the drain evicted). */
  podsReplaced: string[];
}

export interface ClusterUpgradeReport {
  env: string;
  from: string;
  to: string;
  steps: ClusterUpgradeStep[];
  /** Every node's kubelet version at the end. */
  nodes: { name: string; kubelet: string }[];
  /** The dataset written before the upgrade, read back from every pod at the end. */
  dataset: string;
  settings: SettingVerdict[];
}

/** reports/cluster-upgrade.{json,md}: per node step, the upgrade's phases and the writes lost and unavailable. */
export function writeClusterUpgradeReport(report: ClusterUpgradeReport): { json: string; markdown: string } {
  const failed = report.settings.filter((s) => s.result === "fail");
  const markdown = [
    `### Kubernetes ${report.from} -> ${report.to}, in place, one node at a time (${report.env})`,
    "",
    "Each node: `kubectl drain`, stopped, the next release's binaries, kubeadm's rendering of its control plane (server) and its add-ons put in, started, Ready on the new kubelet, `kubectl uncordon`; an acknowledged-write writer (WAIT 1, every 20 ms) and a 200/s open-loop load ran against the primary throughout. The harness reaches Valkey through the API server (port-forward), so the server's step also counts the API's own outage.",
    "",
    markdownTable(
      [
        "node",
        "drain",
        "stop + files",
        "start to Ready",
        "step",
        "pods replaced",
        "writes acked",
        "lost",
        "longest without an acked write",
        "load errors",
      ],
      report.steps.map((s) => [
        `${s.node} (${s.role})`,
        s.upgrade ? `${s.upgrade.drainSeconds} s` : "failed",
        s.upgrade ? `${s.upgrade.binariesSeconds} s` : "",
        s.upgrade ? `${s.upgrade.restartSeconds} s` : "",
        s.upgrade ? `${s.upgrade.totalSeconds} s` : "",
        s.podsReplaced.join(", ") || "none",
        s.observation.writes.acknowledged,
        s.observation.writes.lost,
        `${s.observation.writes.unavailableSeconds} s`,
        `${s.observation.load.errors} of ${s.observation.load.operations}`,
      ]),
    ),
    "",
    `Nodes at the end: ${report.nodes.map((n) => `${n.name} ${n.kubelet}`).join(", ")}.`,
    `Dataset: ${report.dataset}.`,
    `Settings in effect: ${report.settings.filter((s) => s.result === "pass").length} pass, ${failed.length} fail, ${report.settings.filter((s) => s.result === "skipped").length} skipped${failed.length ? ` (${failed.map((s) => s.check).join(", ")})` : ""}.`,
  ].join("\n");
  return writeReport("cluster-upgrade", report, markdown);
}
