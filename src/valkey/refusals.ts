import type { WriteRecord } from "./writer.ts";

/** When writes stopped going through and when they came back, on the writer's clock (ms). */
export interface RefusalWindow {
  /** Sent time of the first write at or after `fromMs` that was not acknowledged (refused, unanswered or unsent). */
  firstFailedAt?: number;
  /** Sent time of the first write after that refused with NOREPLICAS (the primary answers, without enough good replicas). */
  firstNoReplicasAt?: number;
  /** Answer time of the first acknowledged write after the first failed one: writes resumed. */
  resumedAt?: number;
  /** Writes between the first failed one and the resumption, by outcome or error kind. */
  failures: Record<string, number>;
}

/**
 * The first stretch of unacknowledged writes at or after `fromMs` in a writer's records (in
 * the order sent): when it began, when NOREPLICAS first answered in it, and when an
 * acknowledged write ended it (undefined while writes had not resumed).
 */
export function refusalWindow(records: readonly WriteRecord[], fromMs: number): RefusalWindow {
  const window: RefusalWindow = { failures: {} };
  for (const record of records) {
    if (record.at < fromMs) continue;
    if (record.outcome === "acknowledged") {
      if (window.firstFailedAt !== undefined) {
        window.resumedAt = record.answeredAt;
        break;
      }
      continue;
    }
    window.firstFailedAt ??= record.at;
    if (record.error === "NOREPLICAS") window.firstNoReplicasAt ??= record.at;
    const kind = record.error ?? record.outcome;
    window.failures[kind] = (window.failures[kind] ?? 0) + 1;
  }
  return window;
}
