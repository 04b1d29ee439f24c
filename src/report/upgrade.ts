import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Budgets, PromiseVerdict } from "../contract.ts";
import type { Prediction, RolloutKind } from "../upgrade/prediction.ts";
import type { RolloutObservation } from "../upgrade/rollout.ts";
import type { StepKind } from "../upgrade/verdict.ts";
import { markdownTable, REPORTS, writeReport } from "./index.ts";
import { timelineChart } from "./timeline-chart.ts";

export const UPGRADE_SCHEMA = 3;

/** A setting read back from the live release after a step: a non-disruptive check's verdict. */
export interface SettingVerdict {
  check: string;
  promise: string;
  result: "pass" | "fail" | "skipped";
  message?: string;
}

/** One release change of an environment's walk, observed under load. */
export interface UpgradeStep {
  env: string;
  kind: StepKind;
  from: string;
  to: string;
  prediction?: Prediction;
  /** What happened: `rejected` when the change failed, `restart` when pods were replaced. */
  outcome: RolloutKind;
  /** The prediction matched the outcome (undefined when nothing was predicted). */
  predictionHeld?: boolean;
  observation: RolloutObservation;
  settings: SettingVerdict[];
  /** The budgets the step was judged by (the platform's contract). */
  budgets: Budgets["upgradeStep"];
  /** The contract judged on the values of the revision before and after the step. */
  contract: { before: PromiseVerdict[]; after: PromiseVerdict[] };
  result: "pass" | "fail";
  /** What failed, in words; empty on a pass. */
  failures: string[];
  /** Said, not failed (a rollback to a revision that never kept a newer promise). */
  warnings: string[];
  /** The migration an operator must run for a refused upgrade (the walk ran it as the next step). */
  migration?: string;
}

export interface UpgradeReport {
  schema: number;
  createdAt: string;
  helm: string;
  /** Per environment, the revisions walked in order, the contract judged by and how it changed along the walk. */
  walks: { env: string; revisions: string[]; contractFile?: string; contractChanges?: string[] }[];
  steps: UpgradeStep[];
}

const escapeHtml = (text: string) =>
  text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll('"', "&quot;");

function restartOrder(step: UpgradeStep): string {
  const restarts = step.observation.restarts;
  if (restarts.length === 0) return "none";
  return restarts.map((r) => `${r.pod.split("-").at(-1)}@${r.stoppedAt}s`).join(" ");
}

function contractSummary(step: UpgradeStep): string {
  const after = step.contract.after;
  const broken = after.filter((v) => !v.kept).map((v) => v.promise);
  const live = step.settings.filter((v) => v.check.startsWith("contract.") && v.result === "fail").map((v) => v.check);
  if (broken.length === 0 && live.length === 0) return `${after.length} kept`;
  return `BROKEN: ${[...broken, ...live].join(", ")}`;
}

function lossByPod(step: UpgradeStep): string {
  const w = step.observation.writes;
  const where = Object.entries(w.lostByPod ?? {}).map(([pod, n]) => `pod ${pod}: ${n}`);
  return `${w.lost} of ${w.acknowledged}${where.length ? ` (${where.join(", ")})` : ""}`;
}

function settingsSummary(step: UpgradeStep): string {
  const failed = step.settings.filter((s) => s.result === "fail");
  const passed = step.settings.filter((s) => s.result === "pass").length;
  return failed.length === 0
    ? `${passed} in effect`
    : `${failed.length} NOT in effect: ${failed.map((f) => f.check).join(", ")}`;
}

/** The contract each walk was judged by, and its changes: first, before any step. */
function contractMarkdown(report: UpgradeReport): string {
  const lines = report.walks.map((w) => {
    const changes = w.contractChanges ?? [];
    return `- ${w.env}: judged by ${w.contractFile ?? "the working tree's contract"}; ${changes.length === 0 ? "the contract is unchanged along the walk" : `**the contract changes**: ${changes.join("; ")}`}`;
  });
  return `#### The platform's contract\n\n${lines.join("\n")}\n\n`;
}

export function upgradeMarkdown(report: UpgradeReport): string {
  const table = markdownTable(
    [
      "environment",
      "step",
      "from -> to",
      "predicted",
      "happened",
      "pods down (ordinal@s)",
      "contract",
      "acked writes lost (per pod)",
      "writes unavailable s (budget)",
      "p99 ms (max; budget)",
      "converged s",
      "settings",
      "result",
    ],
    report.steps.map((s) => [
      s.env,
      s.kind,
      `${s.from} -> ${s.to}`,
      s.prediction ? s.prediction.kind : "-",
      s.outcome + (s.predictionHeld === false ? " (prediction missed)" : ""),
      restartOrder(s),
      contractSummary(s),
      lossByPod(s),
      `${s.observation.writes.unavailableSeconds} (${s.budgets.writesUnavailableSeconds})`,
      `${s.observation.load.p99Millis.toFixed(1)} (${s.observation.load.maxMillis.toFixed(0)}; ${s.budgets.loadP99Millis})`,
      s.observation.secondsToConverged,
      settingsSummary(s),
      s.result,
    ]),
  );
  const details = report.steps
    .filter(
      (s) =>
        s.failures.length > 0 ||
        s.warnings.length > 0 ||
        s.observation.error ||
        (s.prediction?.podTemplateChanges.length ?? 0) > 0,
    )
    .map((s) => {
      const lines = [`#### ${s.env}: ${s.kind} ${s.from} -> ${s.to}`];
      if (s.prediction) lines.push(`- prediction: ${s.prediction.reason}`);
      if (s.prediction?.podTemplateChanges.length)
        lines.push(`- pod template changes: ${s.prediction.podTemplateChanges.slice(0, 12).join("; ")}`);
      if (s.prediction?.immutableChanges.length)
        lines.push(`- immutable fields changed: ${s.prediction.immutableChanges.join("; ")}`);
      if (s.observation.error)
        lines.push(`- upstream's error: \`${s.observation.error.split("\n").slice(0, 4).join(" / ")}\``);
      if (s.migration) lines.push(`- migration: ${s.migration}`);
      for (const failure of s.failures) lines.push(`- FAILED: ${failure}`);
      for (const warning of s.warnings) lines.push(`- warning: ${warning}`);
      return lines.join("\n");
    })
    .join("\n\n");
  return `### Upgrades under load\n\n${contractMarkdown(report)}${table}\n\n${details}\n`;
}

export function upgradeHtml(report: UpgradeReport): string {
  const sections = report.steps
    .map((s) => {
      const settings = s.settings
        .map(
          (v) =>
            `<li class="${v.result}">${escapeHtml(v.check)}: ${v.result}${v.message ? ` (${escapeHtml(v.message)})` : ""}</li>`,
        )
        .join("");
      return `<section><h2>${escapeHtml(`${s.env}: ${s.kind} ${s.from} -> ${s.to}`)}: ${s.result}</h2>
<p>Predicted: ${escapeHtml(s.prediction?.reason ?? "nothing (baseline)")}. Happened: ${escapeHtml(s.outcome)}${s.observation.error ? `: <code>${escapeHtml(s.observation.error.split("\n")[0] ?? "")}</code>` : ""}.</p>
<p>Contract: ${escapeHtml(contractSummary(s))}. Acknowledged writes lost: <b>${escapeHtml(lossByPod(s))}</b> (WAIT ${s.observation.writes.waitedFor}); longest write outage ${s.observation.writes.unavailableSeconds} s (budget ${s.budgets.writesUnavailableSeconds} s); converged after ${s.observation.secondsToConverged} s; load ${s.observation.load.rate}/s: p50 ${s.observation.load.p50Millis.toFixed(2)} ms, p99 ${s.observation.load.p99Millis.toFixed(1)} ms, ${s.observation.load.errors} errors.</p>
${timelineChart(`${s.env}: ${s.kind} ${s.from} -> ${s.to}`, s.observation.timeline, s.observation.events)}
<ul>${settings}</ul>
${s.failures.length ? `<p class="fail">${s.failures.map(escapeHtml).join("<br>")}</p>` : ""}${s.warnings.length ? `<p>${s.warnings.map(escapeHtml).join("<br>")}</p>` : ""}</section>`;
    })
    .join("\n");
  return `<!doctype html><html><head><meta charset="utf-8"><title>Valkey upgrades under load</title>
<style>body{font-family:sans-serif;margin:24px;max-width:820px}.fail{color:#b00}li.fail{color:#b00}code{font-size:11px}</style></head><body>
<h1>Valkey upgrades under load</h1>
<p>${escapeHtml(report.createdAt)}, ${escapeHtml(report.helm)}.</p>
<p>${report.walks.map((w) => `${escapeHtml(w.env)}: ${(w.contractChanges ?? []).length === 0 ? "the platform's contract is unchanged along the walk" : `<b>the contract changes</b>: ${(w.contractChanges ?? []).map(escapeHtml).join("; ")}`}`).join("<br>")}</p>
<p>Walks: ${report.walks.map((w) => `${escapeHtml(w.env)}: ${w.revisions.map(escapeHtml).join(" &rarr; ")}`).join("; ")}.</p>
${sections}
</body></html>
`;
}

/** Writes reports/<name>.{json,md,html} (default upgrade-matrix); returns the paths. */
export function writeUpgradeReport(report: UpgradeReport, name = "upgrade-matrix") {
  const paths = writeReport(name, report, upgradeMarkdown(report));
  const html = join(REPORTS, `${name}.html`);
  writeFileSync(html, upgradeHtml(report));
  return { ...paths, html };
}
