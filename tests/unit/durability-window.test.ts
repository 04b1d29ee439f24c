import { describe, expect, test } from "vitest";
import { AOF_WINDOW_MS, outsideAofWindow } from "../../src/checks/durability.ts";
import { allowedToLose, type LostWrite, type PersistenceAtCrash, readProfile } from "../../src/durability/profiles.ts";
import type { WriteRecord } from "../../src/valkey/writer.ts";

const record = (answeredAt: number): WriteRecord => ({
  key: `k:${answeredAt}`,
  at: answeredAt - 5,
  outcome: "acknowledged",
  answeredAt,
  replicas: 1,
});

describe("the append-only file's loss window", () => {
  const issued = 10_000;
  const confirmed = 10_400;

  test("excuses only writes acknowledged from 2 s before the kill was issued up to its confirmation", () => {
    const lost = [issued - AOF_WINDOW_MS, issued - 1, confirmed].map(record);
    expect(outsideAofWindow(lost, issued, confirmed)).toEqual([]);
  });

  test("judges a write by the moment the server said OK, not by the end of the WAIT after it", () => {
    const waitedPastTheKill = { ...record(confirmed + 500), okAt: issued - 100 };
    expect(outsideAofWindow([waitedPastTheKill], issued, confirmed)).toEqual([]);
  });

  test("does not excuse a write acknowledged well before the window, nor one the restarted server acknowledged", () => {
    const early = record(issued - AOF_WINDOW_MS - 1);
    const restarted = record(confirmed + 1);
    expect(outsideAofWindow([early, record(issued - 500), restarted], issued, confirmed)).toEqual([early, restarted]);
  });
});

describe("a profile's promise", () => {
  const crash: PersistenceAtCrash = {
    crashAt: 100_000,
    crashConfirmedAt: 100_300,
    rdbLastSaveTime: 50,
    rdbChangesSinceLastSave: 10,
    rdbLastBgsaveSeconds: 0,
    aofEnabled: true,
  };
  const lostAt = (acknowledgedAt: number): LostWrite => ({
    key: "k",
    sentAt: acknowledgedAt - 1,
    acknowledgedAt,
    replicas: 1,
  });
  const everysec = readProfile("aof-everysec").promise;

  test("of the last seconds is bounded on both sides of the crash", () => {
    expect(everysec.loses).toBe("last-seconds");
    const seconds = everysec.loses === "last-seconds" ? everysec.seconds : 0;
    expect(allowedToLose(everysec, lostAt(crash.crashAt - seconds * 1000), crash)).toBe(true);
    expect(allowedToLose(everysec, lostAt(crash.crashAt - seconds * 1000 - 1), crash)).toBe(false);
    expect(allowedToLose(everysec, lostAt(100_300), crash)).toBe(true);
    expect(allowedToLose(everysec, lostAt(100_301), crash)).toBe(false);
  });

  test("since the last save never excuses what the restarted server acknowledged", () => {
    const rdb = readProfile("rdb-upstream-default").promise;
    expect(allowedToLose(rdb, lostAt(60_000), crash)).toBe(true);
    expect(allowedToLose(rdb, lostAt(100_301), crash)).toBe(false);
  });
});
