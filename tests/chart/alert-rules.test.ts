import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import { parse, stringify } from "yaml";
import { Helm } from "../../src/chart/helm.ts";
import { renderChart, stageChart } from "../../src/chart/wrapper.ts";
import { environmentValuesFile } from "../../src/environments.ts";
import { scratchDir } from "../../src/files.ts";
import { CommandError } from "../../src/process.ts";
import { findPromtool, type Promtool } from "../../src/prometheus/promtool.ts";
import { isCI } from "../../src/settings.ts";

/**
 * The chart's alert rules, unit-tested with promtool (no cluster): each rule fires on the
 * series that mean trouble, after its `for` window, for this release only, and stays
 * silent otherwise. Rendered as prod-01 would ship them (minReplicasToWrite 2,
 * minReplicasMaxLag 10, the default).
 */
interface Rule {
  alert: string;
  expr: string;
  for: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

const selector = { namespace: "data", service: "valkey-metrics" };
/** prod-01's valkey.replica.minReplicasToWrite and minReplicasMaxLag (the default). */
const MIN_REPLICAS_TO_WRITE = 2;
const MIN_REPLICAS_MAX_LAG = 10;
/**
 * The ValkeyWritesRefused expression before it counted good replicas: the replicas
 * connected to the primary, resyncing or not (the mutation test puts it back).
 */
const CONNECTED_REPLICAS_EXPR = `max by (namespace, service) (redis_connected_slaves{namespace="data", service="valkey-metrics"}) < ${MIN_REPLICAS_TO_WRITE}`;
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
/** The rendered rules file, as the ConfigMap ships it. */
let rulesText = "";
let dir = "";

const rule = (name: string) => rules.find((r) => r.alert === name) as Rule;
/** An expected firing alert: the rule's labels, the series' labels, its annotations expanded. */
const firing = (name: string, labels: Record<string, string>, value: number) => ({
  exp_labels: { ...rule(name).labels, ...labels },
  exp_annotations: Object.fromEntries(
    Object.entries(rule(name).annotations).map(([k, v]) => [k, expand(v, labels, value)]),
  ),
});

/** The primary's exporter (pod 0): the only one whose INFO lists replicas. */
const primary = { instance: "10.42.0.5:9121", pod: "valkey-0" };
/** A replica's entry in the primary's INFO (slaveN:ip=...,state=...,lag=...), as redis_exporter labels it. */
const replicaLag = (ip: string, state: string, values: string) => ({
  series: series("redis_connected_slave_lag_seconds", {
    ...primary,
    slave_ip: ip,
    slave_port: "6379",
    slave_state: state,
  }),
  values,
});
/** A pod's exporter answering (redis_up), primary or replica. */
const exporterUp = (pod: { instance: string; pod: string }, values: string) => ({
  series: series("redis_up", pod),
  values,
});

/**
 * Two replicas connected to the primary but in a full resync (as after the primary's
 * restart): redis_connected_slaves says 2, Valkey counts no good replica (lag is 0 in INFO
 * for a replica that is not online yet) and refuses writes. The mutation test runs it
 * against the old rule too.
 */
const resyncCase = () => ({
  name: "two replicas connected but in a full resync (wait_bgsave, send_bulk) fire ValkeyWritesRefused after 30s, with 0 good replicas",
  interval: "15s",
  input_series: [
    exporterUp(primary, "1x10"),
    { series: series("redis_connected_slaves", primary), values: "2x10" },
    // Online until 15s, then both replicas start a full resync: their online series end.
    replicaLag("10.42.1.5", "online", "0 0 stale"),
    replicaLag("10.42.2.5", "online", "0 0 stale"),
    replicaLag("10.42.1.5", "wait_bgsave", "_ _ 0x8"),
    replicaLag("10.42.2.5", "wait_bgsave", "_ _ 0 0 stale"),
    replicaLag("10.42.2.5", "send_bulk", "_ _ _ _ 0x6"),
  ],
  alert_rule_test: [
    { eval_time: "15s", alertname: "ValkeyWritesRefused", exp_alerts: [] },
    // Refused from 30s: pending until the 30s `for` has passed.
    { eval_time: "45s", alertname: "ValkeyWritesRefused", exp_alerts: [] },
    { eval_time: "75s", alertname: "ValkeyWritesRefused", exp_alerts: [firing("ValkeyWritesRefused", selector, 0)] },
  ],
});

/** Writes `tests` as a promtool test file against `rulesFile` (in `dir`) and runs promtool test rules on it. */
function promtoolTest(rulesFile: string, testsFile: string, tests: unknown[]): Promise<string> {
  writeFileSync(join(dir, testsFile), stringify({ rule_files: [rulesFile], evaluation_interval: "15s", tests }));
  return (promtool as Promtool).run(dir, ["test", "rules", testsFile]);
}

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
    rulesText = configMap?.data["valkey-alerts.yml"] as string;
    rules = (parse(rulesText) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules);
    dir = scratchDir("alert-rules-");
    writeFileSync(join(dir, "valkey-alerts.yml"), rulesText);
    // Staging and rendering the chart beside the other chart tests on a busy machine can take
    // longer than the default 10 s hook timeout (seen).
  }, 60_000);

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
    // What min-replicas-to-write counts: replicas online and within min-replicas-max-lag.
    const writesRefused = rule("ValkeyWritesRefused").expr;
    expect(writesRefused).toContain(`slave_state="online"} <= ${MIN_REPLICAS_MAX_LAG})`);
    expect(writesRefused).toMatch(new RegExp(`\\) < ${MIN_REPLICAS_TO_WRITE}$`));
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
        name: "two of three good replicas disconnecting (one left, minReplicasToWrite 2) fires ValkeyWritesRefused after 30s",
        interval: "15s",
        input_series: [
          exporterUp(primary, "1x12"),
          replicaLag("10.42.1.5", "online", "0x12"),
          replicaLag("10.42.2.5", "online", "0 0 stale"),
          replicaLag("10.42.3.5", "online", "0 0 stale"),
          // A replica's own exporter: no replicas of its own.
          exporterUp(pod1, "1x12"),
          { series: series("redis_connected_slaves", pod1), values: "0x12" },
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
      resyncCase(),
      {
        name: `replicas online but one lagging beyond minReplicasMaxLag (${MIN_REPLICAS_MAX_LAG} s) fires ValkeyWritesRefused after 30s, with 1 good replica`,
        interval: "15s",
        input_series: [
          exporterUp(primary, "1x10"),
          { series: series("redis_connected_slaves", primary), values: "2x10" },
          replicaLag("10.42.1.5", "online", "0x10"),
          // Stops acknowledging at 15s (lag 0): over the bound from 30s on.
          replicaLag("10.42.2.5", "online", "0 0 15+15x8"),
        ],
        alert_rule_test: [
          { eval_time: "15s", alertname: "ValkeyWritesRefused", exp_alerts: [] },
          { eval_time: "45s", alertname: "ValkeyWritesRefused", exp_alerts: [] },
          {
            eval_time: "75s",
            alertname: "ValkeyWritesRefused",
            exp_alerts: [firing("ValkeyWritesRefused", selector, 1)],
          },
        ],
      },
      {
        name: `two good replicas keep ValkeyWritesRefused silent: one lagging exactly minReplicasMaxLag (${MIN_REPLICAS_MAX_LAG} s) still counts, a third in a full resync does not matter`,
        interval: "15s",
        input_series: [
          exporterUp(primary, "1x12"),
          { series: series("redis_connected_slaves", primary), values: "3x12" },
          replicaLag("10.42.1.5", "online", "0x12"),
          replicaLag("10.42.2.5", "online", `${MIN_REPLICAS_MAX_LAG}x12`),
          replicaLag("10.42.3.5", "send_bulk", "0x12"),
        ],
        alert_rule_test: [{ eval_time: "150s", alertname: "ValkeyWritesRefused", exp_alerts: [] }],
      },
      {
        name: "replicas' own series (no replicas of their own) never fire ValkeyWritesRefused while the primary has enough good replicas",
        interval: "15s",
        input_series: [
          exporterUp(primary, "1x12"),
          { series: series("redis_connected_slaves", primary), values: "2x12" },
          replicaLag("10.42.1.5", "online", "0x12"),
          replicaLag("10.42.2.5", "online", "1x12"),
          ...[pod1, { instance: "10.42.2.5:9121", pod: "valkey-2" }].flatMap((pod) => [
            exporterUp(pod, "1x12"),
            { series: series("redis_connected_slaves", pod), values: "0x12" },
            {
              series: series("redis_master_link_up", { ...pod, master_host: replica.master_host, master_port: "6379" }),
              values: "1x12",
            },
          ]),
        ],
        alert_rule_test: [{ eval_time: "150s", alertname: "ValkeyWritesRefused", exp_alerts: [] }],
      },
      {
        name: "the primary down while its replicas report fires ValkeyWritesRefused after 30s, with 0 good replicas",
        interval: "15s",
        input_series: [
          // Pod 0 deleted at 30s: every series of its exporter ends.
          exporterUp(primary, "1 1 stale"),
          { series: series("redis_connected_slaves", primary), values: "2 2 stale" },
          replicaLag("10.42.1.5", "online", "0 0 stale"),
          replicaLag("10.42.2.5", "online", "0 0 stale"),
          exporterUp(pod1, "1x10"),
          { series: series("redis_connected_slaves", pod1), values: "0x10" },
        ],
        alert_rule_test: [
          { eval_time: "45s", alertname: "ValkeyWritesRefused", exp_alerts: [] },
          {
            eval_time: "75s",
            alertname: "ValkeyWritesRefused",
            exp_alerts: [firing("ValkeyWritesRefused", selector, 0)],
          },
        ],
      },
      {
        name: "no exporter of the release answering at all leaves ValkeyWritesRefused silent (no absent(): the exporter and instance alerts speak)",
        interval: "15s",
        input_series: [
          exporterUp(primary, "1 1 stale"),
          replicaLag("10.42.1.5", "online", "0 0 stale"),
          replicaLag("10.42.2.5", "online", "0 0 stale"),
          exporterUp(pod1, "1 1 stale"),
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
    const output = await promtoolTest("valkey-alerts.yml", "tests.yml", tests);
    expect(output).toMatch(/SUCCESS/);
  });

  test("count good replicas, not connected ones: the old redis_connected_slaves rule stays silent through a full resync that refuses writes, and the resync case catches it (mutation)", async ({
    skip,
  }) => {
    if (!promtool) return skip("no promtool here (PATH, the offline image, or Docker pulling prom/prometheus)");
    const shipped = rule("ValkeyWritesRefused").expr;
    expect(rulesText, "the rendered rules file holds the expression verbatim (one line)").toContain(shipped);
    expect(shipped, "the shipped rule no longer counts connected replicas").not.toContain("redis_connected_slaves");
    writeFileSync(join(dir, "valkey-alerts-connected.yml"), rulesText.replace(shipped, CONNECTED_REPLICAS_EXPR));
    const resync = resyncCase();
    await expect(promtoolTest("valkey-alerts.yml", "resync.yml", [resync]), "the shipped rule").resolves.toMatch(
      /SUCCESS/,
    );
    const failure = await promtoolTest("valkey-alerts-connected.yml", "resync-connected.yml", [resync]).then(
      (output) => new Error(`the old rule passed the resync case:\n${output}`),
      (error: unknown) => error,
    );
    expect(failure, "promtool fails the old rule").toBeInstanceOf(CommandError);
    const output = `${(failure as CommandError).result.stdout}\n${(failure as CommandError).result.stderr}`;
    expect(output).toContain("FAILED");
    expect(output).toContain(resync.name);
    expect(output).toMatch(/alertname: ValkeyWritesRefused, time: 1m15s/);
  });
});
