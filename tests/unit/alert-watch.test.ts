import { describe, expect, test } from "vitest";
import { type AlertLook, alertTimeline } from "../../src/prometheus/alert-watch.ts";
import { refusalWindow } from "../../src/valkey/refusals.ts";
import type { WriteRecord } from "../../src/valkey/writer.ts";

const looks = (states: [number, AlertLook["state"]][]): AlertLook[] => states.map(([at, state]) => ({ at, state }));

describe("an alert's timeline, from looks at Prometheus", () => {
  test("reads when the alert went pending, firing and resolved", () => {
    expect(
      alertTimeline(
        looks([
          [0, "inactive"],
          [500, "pending"],
          [1000, "pending"],
          [1500, "firing"],
          [2000, "firing"],
          [2500, "inactive"],
          [3000, "pending"],
        ]),
      ),
    ).toEqual({ pendingAt: 500, firingAt: 1500, lastFiringAt: 2000, resolvedAt: 2500 });
  });

  test("counts an alert that went firing between two looks as pending then too", () => {
    expect(
      alertTimeline(
        looks([
          [0, "inactive"],
          [500, "firing"],
        ]),
      ),
    ).toEqual({ pendingAt: 500, firingAt: 500, lastFiringAt: 500 });
  });

  test("ignores looks before `fromMs`, and reports an alert that never fired as such", () => {
    expect(
      alertTimeline(
        looks([
          [0, "firing"],
          [500, "inactive"],
          [1000, "pending"],
          [1500, "inactive"],
        ]),
        600,
      ),
    ).toEqual({ pendingAt: 1000, resolvedAt: 1500 });
    expect(alertTimeline(looks([[0, "inactive"]]))).toEqual({});
  });
});

describe("the window of refused writes, from a writer's records", () => {
  const record = (at: number, outcome: WriteRecord["outcome"], error?: string): WriteRecord => ({
    key: `k:${at}`,
    at,
    answeredAt: at + 10,
    outcome,
    replicas: 0,
    ...(error ? { error } : {}),
  });

  test("runs from the first unacknowledged write to the first acknowledged one after it", () => {
    expect(
      refusalWindow(
        [
          record(0, "refused", "NOREPLICAS"),
          record(100, "acknowledged"),
          record(200, "acknowledged"),
          record(300, "unknown", "CONNECTION"),
          record(400, "unsent", "CONNECTION"),
          record(500, "refused", "LOADING"),
          record(600, "refused", "NOREPLICAS"),
          record(700, "refused", "NOREPLICAS"),
          record(800, "acknowledged"),
          record(900, "refused", "NOREPLICAS"),
        ],
        50,
      ),
    ).toEqual({
      firstFailedAt: 300,
      firstNoReplicasAt: 600,
      resumedAt: 810,
      failures: { CONNECTION: 2, LOADING: 1, NOREPLICAS: 2 },
    });
  });

  test("leaves resumedAt out while writes have not resumed", () => {
    expect(refusalWindow([record(0, "acknowledged"), record(100, "unknown")], 0)).toEqual({
      firstFailedAt: 100,
      failures: { unknown: 1 },
    });
  });
});
