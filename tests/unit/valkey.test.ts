import { describe, expect, test } from "vitest";
import { compareVersions } from "../../src/chart/upstream.ts";
import { metricValue, parseInfo, parseMetrics } from "../../src/valkey/index.ts";

describe("INFO and metrics parsing", () => {
  test("reads INFO fields and ignores section headers", () => {
    const info = parseInfo(
      "# Replication\r\nrole:master\r\nconnected_slaves:2\r\nslave0:ip=a,port=6379,state=online\r\n",
    );
    expect(info).toEqual({ role: "master", connected_slaves: "2", slave0: "ip=a,port=6379,state=online" });
  });

  test("finds a metric by name and labels in Prometheus text", () => {
    const samples = parseMetrics(
      [
        "# HELP redis_up Information about the Redis instance",
        "redis_up 1",
        'redis_instance_info{redis_mode="standalone",role="slave",valkey_version="9.1.2"} 1',
        "redis_connected_slaves 0",
      ].join("\n"),
    );
    expect(metricValue(samples, "redis_up")).toBe(1);
    expect(metricValue(samples, "redis_instance_info", { role: "slave" })).toBe(1);
    expect(metricValue(samples, "redis_instance_info", { role: "master" })).toBeUndefined();
    expect(metricValue(samples, "redis_connected_slaves")).toBe(0);
  });
});

describe("upstream versions", () => {
  test("sort numerically", () => {
    expect(["0.11.0", "0.9.4", "0.10.0", "0.9.0"].sort(compareVersions)).toEqual([
      "0.9.0",
      "0.9.4",
      "0.10.0",
      "0.11.0",
    ]);
  });
});
