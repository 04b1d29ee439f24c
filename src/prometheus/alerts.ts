import { waitFor } from "../kube/index.ts";
import type { StartedPrometheus } from "./index.ts";

/** Seconds until an alert of `name` is firing (or, with `resolved`, until none is pending or firing). */
export async function secondsUntilAlert(
  prometheus: StartedPrometheus,
  name: string,
  state: "firing" | "resolved",
  timeoutMs: number,
): Promise<number> {
  const started = performance.now();
  await waitFor(
    `alert ${name} to be ${state}`,
    async () => {
      const alerts = (await prometheus.alerts()).filter((a) => a.labels.alertname === name);
      return state === "firing" ? alerts.some((a) => a.state === "firing") : alerts.length === 0;
    },
    { timeoutMs, intervalMs: 500 },
  );
  return Number(((performance.now() - started) / 1000).toFixed(1));
}

/** A Prometheus duration (30s, 1m, 1h30m) in seconds. */
export function durationSeconds(duration: string): number {
  const units: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400, w: 604800, y: 31536000 };
  let total = 0;
  for (const [, amount, unit] of duration.matchAll(/(\d+)(ms|s|m|h|d|w|y)/g))
    total += Number(amount) * (units[unit as string] ?? 0);
  return total;
}
