import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import { parse, stringify } from "yaml";
import { Helm } from "../../src/chart/helm.ts";
import { renderChart, stageChart } from "../../src/chart/wrapper.ts";
import { environmentValuesFile } from "../../src/environments.ts";
import { scratchDir } from "../../src/files.ts";
import { findPromtool, type Promtool } from "../../src/prometheus/promtool.ts";
import { isCI } from "../../src/settings.ts";

/**
 * The chart's alert rules, unit-tested with promtool (no cluster): each rule fires on the
 * series that mean trouble, after its `for` window, for this release only, and stays
 * silent otherwise. Rendered as prod-01 would ship them (minReplicasToWrite 2).
 */
interface Rule {
  alert: string;
  expr: string;
  for: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

const selector = { namespace: "data", service: "valkey-metrics" };
const series = (metric: string, labels: Record<string, string>) =>
  `${metric}{${Object.entries({ ...selector, ...labels })
    .map(([k, v]) => `${k}="${v}"`)
    .join(", ")}}`;

/** Expands the {{ $labels.x }} and {{ $value }} of an annotation, as Prometheus would. */
function expand(text: string, labels: Record<string, string>, value: number): string {
  return text
    .replace(/\{\{ \$labels\.(\w+) \}\}/g, (_, name: string) => labels[name] ?? "")
    .replace(/\{\{ \$value \}\}/g, String(value));
}

let promtool: Promtool | undefined;
let rules: Rule[] = [];
let dir = "";

describe("the chart's alert rules", () => {
  beforeAll(async () => {
    promtool = await findPromtool();
    if (!promtool && isCI())
      throw new Error(
        "no promtool: put one on PATH, or build the offline images (npm run images), or let Docker pull prom/prometheus",
      );
    const helm = await Helm.resolve("4");
    const [configMap] = await renderChart(helm, await stageChart(helm), {
      namespace: "data",
      valuesFiles: [environmentValuesFile("prod-01")],
      set: { "alerts.rulesConfigMap.enabled": "true" },
    }).then((manifests) => manifests.filter((m) => m.kind === "ConfigMap" && m.metadata.name.endsWith("-alerts")));
    expect(configMap, "the rules ConfigMap renders when alerts.rulesConfigMap.enabled").toBeDefined();
    const text = configMap?.data["valkey-alerts.yml"] as string;
    rules = (parse(text) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules);
    dir = scratchDir("alert-rules-");
    writeFileSync(join(dir, "valkey-alerts.yml"), text);
  });

  test("ship the rules the README names, every one selecting this release's series", () => {
    expect(rules.map((r) => r.alert)).toEqual([
      "ValkeyExporterDown",
      "ValkeyInstanceDown",
      "ValkeyReplicaLinkDown",
      "ValkeyWritesRefused",
      "ValkeyMemoryNearLimit",
      "ValkeyPersistenceFailing",
    ]);
    for (const rule of rules) expect(rule.expr, rule.alert).toContain('namespace="data", service="valkey-metrics"');
  });

  test("pass promtool check rules", async ({ skip }) => {
    if (!promtool) return skip("no promtool here (PATH, the offline image, or Docker pulling prom/prometheus)");
    await expect(promtool.run(dir, ["check", "rules", "valkey-alerts.yml"])).resolves.toMatch(
      /SUCCESS: \d+ rules found/,
    );
  });

  test("fire on trouble after their `for` window and not before, for this release only (promtool test rules)", async ({
    skip,
  }) => {
    if (!promtool) return skip("no promtool here (PATH, the offline image, or Docker pulling prom/prometheus)");
    const rule = (name: string) => rules.find((r) => r.alert === name) as Rule;
    /** An expected firing alert: the rule's labels, the series' labels, its annotations expanded. */
    const firing = (name: string, labels: Record<string, string>, value: number) => ({
      exp_labels: { ...rule(name).labels, ...labels },
      exp_annotations: Object.fromEntries(
        Object.entries(rule(name).annotations).map(([k, v]) => [k, expand(v, labels, value)]),
      ),
    });
    const pod1 = { ...selector, instance: "10.42.1.5:9121", pod: "valkey-1" };
    const replica = { ...pod1, master_host: "valkey-0.valkey-headless.data.svc.cluster.local", master_port: "6379" };
    const tests = [
      {
        name: "an exporter that stops answering fires ValkeyExporterDown after 1m; another release's does not",
        interval: "15s",
        input_series: [
          { series: series("up", { instance: pod1.instance, pod: "valkey-1" }), values: "1 0x12" },
          { series: `up{namespace="data", service="other-metrics", instance="10.42.1.9:9121"}`, values: "0x12" },
        ],
        alert_rule_test: [
          { eval_time: "45s", alertname: "ValkeyExporterDown", exp_alerts: [] },
          { eval_time: "90s", alertname: "ValkeyExporterDown", exp_alerts: [firing("ValkeyExporterDown", pod1, 0)] },
        ],
      },
      {
        name: "Valkey down behind its exporter fires ValkeyInstanceDown after 1m",
        interval: "15s",
        input_series: [{ series: series("redis_up", { instance: pod1.instance, pod: "valkey-1" }), values: "1 0x12" }],
        alert_rule_test: [
          { eval_time: "45s", alertname: "ValkeyInstanceDown", exp_alerts: [] },
          { eval_time: "90s", alertname: "ValkeyInstanceDown", exp_alerts: [firing("ValkeyInstanceDown", pod1, 0)] },
        ],
      },
      {
        name: "a replica without its link fires ValkeyReplicaLinkDown after 1m",
        interval: "15s",
        input_series: [
          {
            series: series("redis_master_link_up", {
              instance: pod1.instance,
              pod: "valkey-1",
              master_host: replica.master_host,
              master_port: "6379",
            }),
            values: "1 0x12",
          },
        ],
        alert_rule_test: [
          { eval_time: "45s", alertname: "ValkeyReplicaLinkDown", exp_alerts: [] },
          {
            eval_time: "90s",
            alertname: "ValkeyReplicaLinkDown",
            exp_alerts: [firing("ValkeyReplicaLinkDown", replica, 0)],
          },
        ],
      },
      {
        name: "fewer connected replicas than minReplicasToWrite (2) fires ValkeyWritesRefused after 30s; two do not",
        interval: "15s",
        input_series: [
          {
            series: series("redis_connected_slaves", { instance: "10.42.0.5:9121", pod: "valkey-0" }),
            values: "3 3 1x10",
          },
          { series: series("redis_connected_slaves", { instance: pod1.instance, pod: "valkey-1" }), values: "0x12" },
        ],
        alert_rule_test: [
          { eval_time: "30s", alertname: "ValkeyWritesRefused", exp_alerts: [] },
          {
            eval_time: "75s",
            alertname: "ValkeyWritesRefused",
            exp_alerts: [firing("ValkeyWritesRefused", selector, 1)],
          },
        ],
      },
      {
        name: "two connected replicas keep ValkeyWritesRefused silent",
        interval: "15s",
        input_series: [
          { series: series("redis_connected_slaves", { instance: "10.42.0.5:9121", pod: "valkey-0" }), values: "2x12" },
        ],
        alert_rule_test: [{ eval_time: "150s", alertname: "ValkeyWritesRefused", exp_alerts: [] }],
      },
      {
        name: "memory above 90 % of maxmemory fires ValkeyMemoryNearLimit after 5m; no maxmemory never fires",
        interval: "1m",
        input_series: [
          { series: series("redis_memory_used_bytes", { instance: pod1.instance, pod: "valkey-1" }), values: "95x10" },
          { series: series("redis_memory_max_bytes", { instance: pod1.instance, pod: "valkey-1" }), values: "100x10" },
          {
            series: series("redis_memory_used_bytes", { instance: "10.42.2.5:9121", pod: "valkey-2" }),
            values: "95x10",
          },
          { series: series("redis_memory_max_bytes", { instance: "10.42.2.5:9121", pod: "valkey-2" }), values: "0x10" },
        ],
        alert_rule_test: [
          { eval_time: "3m", alertname: "ValkeyMemoryNearLimit", exp_alerts: [] },
          {
            eval_time: "6m",
            alertname: "ValkeyMemoryNearLimit",
            exp_alerts: [firing("ValkeyMemoryNearLimit", pod1, 0.95)],
          },
        ],
      },
      {
        name: "a failed AOF write fires ValkeyPersistenceFailing after 1m",
        interval: "15s",
        input_series: [
          {
            series: series("redis_aof_last_write_status", { instance: pod1.instance, pod: "valkey-1" }),
            values: "1 0x12",
          },
          {
            series: series("redis_rdb_last_bgsave_status", { instance: pod1.instance, pod: "valkey-1" }),
            values: "1x12",
          },
        ],
        alert_rule_test: [
          { eval_time: "45s", alertname: "ValkeyPersistenceFailing", exp_alerts: [] },
          {
            eval_time: "90s",
            alertname: "ValkeyPersistenceFailing",
            exp_alerts: [firing("ValkeyPersistenceFailing", pod1, 0)],
          },
        ],
      },
    ];
    writeFileSync(
      join(dir, "tests.yml"),
      stringify({ rule_files: ["valkey-alerts.yml"], evaluation_interval: "15s", tests }),
    );
    const output = await (promtool as Promtool).run(dir, ["test", "rules", "tests.yml"]);
    expect(output).toMatch(/SUCCESS/);
  });
});
