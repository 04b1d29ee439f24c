import { describe, expect, test } from "vitest";
import type { Manifest } from "../../src/chart/wrapper.ts";
import { predictFromManifests } from "../../src/upgrade/prediction.ts";

const statefulSet = (replicas: number): Manifest => ({
  apiVersion: "apps/v1",
  kind: "StatefulSet",
  metadata: { name: "valkey" },
  spec: { replicas, serviceName: "valkey-headless", template: { spec: { containers: [{ name: "valkey" }] } } },
});

describe("the rollout prediction of a change of valkey.replica.replicas", () => {
  test("scaling up names the pods added and restarts none", () => {
    const prediction = predictFromManifests([statefulSet(3)], [statefulSet(4)]);
    expect(prediction.kind).toBe("no-restart");
    expect(prediction.scaling).toEqual({ statefulSet: "valkey", from: 3, to: 4, added: ["valkey-3"], removed: [] });
    expect(prediction.reason).toContain("scales from 3 to 4 pods (valkey-3 added)");
  });

  test("scaling down names the pods removed, highest ordinal first", () => {
    const prediction = predictFromManifests([statefulSet(5)], [statefulSet(3)]);
    expect(prediction.scaling?.removed).toEqual(["valkey-4", "valkey-3"]);
    expect(prediction.reason).toContain("valkey-4, valkey-3 removed");
  });

  test("no scaling when the count stays", () => {
    expect(predictFromManifests([statefulSet(3)], [statefulSet(3)]).scaling).toBeUndefined();
  });
});
