import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { markdownTable, REPORTS, writeReport } from "../report/index.ts";
import type { ScenarioResult } from "./scenarios.ts";

interface DurabilityReport {
  schema: "valkey-harness/durability/v1";
  env: string;
  /** One test run: results of the failover and node-crash suites of the same run are merged. */
  runId: string;
  results: ScenarioResult[];
}

function file(env: string): string {
  return join(REPORTS, `durability-${env}.json`);
}

export function durabilityMarkdown(report: DurabilityReport): string {
  const rows = [...report.results].sort(
    (a, b) => a.profile.localeCompare(b.profile) || a.scenario.localeCompare(b.scenario),
  );
  const table = markdownTable(
    [
      "profile",
      "scenario",
      "attempted",
      "acknowledged",
      "confirmed (WAIT)",
      "before / after",
      "lost (per pod)",
      "lost confirmed",
      "unavailable s",
      "promise",
      "verdict",
    ],
    rows.map((r) => [
      r.profile,
      r.scenario,
      r.attempted,
      r.acknowledged,
      r.confirmed,
      `${r.acknowledgedBefore ?? "?"} / ${r.acknowledgedAfter ?? "?"}`,
      `${r.lost}${
        Object.keys(r.lostByPod ?? {}).length
          ? ` (${Object.entries(r.lostByPod)
              .map(([pod, n]) => `pod ${pod}: ${n}`)
              .join(", ")})`
          : ""
      }`,
      r.lostConfirmed,
      r.unavailableSeconds,
      r.promise,
      r.verdict === "fail" ? `**FAIL**: ${r.reason}` : r.verdict === "reported" ? "reported (no promise)" : "pass",
    ]),
  );
  const timelines = rows.map(
    (r) =>
      `- **${r.profile} / ${r.scenario}**: ${r.timeline.map((t) => `${t.at} s ${t.what}`).join("; ")}${r.persistenceAtCrash ? `; at the crash: last RDB save ${new Date(r.persistenceAtCrash.rdbLastSaveTime * 1000).toISOString()}, ${r.persistenceAtCrash.rdbChangesSinceLastSave} changes since, AOF ${r.persistenceAtCrash.aofEnabled ? "on" : "off"}${r.persistenceAtCrash.aofDelayedFsync !== undefined ? ` (aof_delayed_fsync ${r.persistenceAtCrash.aofDelayedFsync})` : ""}${r.persistenceAtCrash.crashConfirmedAt ? `, kill confirmed ${r.persistenceAtCrash.crashConfirmedAt - r.persistenceAtCrash.crashAt} ms after it was issued` : ""}` : ""}${r.divergent ? `; ${r.divergent} key(s) held by a replica but not by the primary` : ""}`,
  );
  return [
    `### Durability of ${report.env}: acknowledged writes through crashes`,
    "",
    table,
    "",
    "What happened, in order:",
    "",
    ...timelines,
  ].join("\n");
}

/** Adds results to reports/durability-<env>.{json,md}, merged with those of the same run. */
export function recordDurability(env: string, runId: string, results: ScenarioResult[]): void {
  if (results.length === 0) return;
  let report: DurabilityReport = { schema: "valkey-harness/durability/v1", env, runId, results: [] };
  if (existsSync(file(env))) {
    const previous = JSON.parse(readFileSync(file(env), "utf8")) as DurabilityReport;
    if (previous.runId === runId) report = previous;
  }
  report.results = [
    ...report.results.filter((r) => !results.some((n) => n.profile === r.profile && n.scenario === r.scenario)),
    ...results,
  ];
  writeReport(`durability-${env}`, report, durabilityMarkdown(report));
}
