import type { Alert, StartedPrometheus } from "./index.ts";

/** One look at an alert: when (ms on the caller's clock) and its state then, `inactive` when neither pending nor firing. */
export interface AlertLook {
  at: number;
  state: Alert["state"] | "inactive";
}

/** When an alert went pending, firing and resolved, on the caller's clock (ms); undefined where it did not. */
export interface AlertTimeline {
  /** First look with the alert pending or firing (firing too when it went there between two looks). */
  pendingAt?: number;
  /** First look with the alert firing. */
  firingAt?: number;
  /** First look with the alert inactive again after it had been pending or firing. */
  resolvedAt?: number;
  /** Last look with the alert firing, before it resolved. */
  lastFiringAt?: number;
}

/**
 * The first pending-or-firing episode among looks (in time order) taken at or after
 * `fromMs`: when it went pending, firing, and inactive again.
 */
export function alertTimeline(looks: readonly AlertLook[], fromMs = Number.NEGATIVE_INFINITY): AlertTimeline {
  const timeline: AlertTimeline = {};
  for (const look of looks) {
    if (look.at < fromMs) continue;
    if (look.state === "inactive") {
      if (timeline.pendingAt !== undefined) {
        timeline.resolvedAt = look.at;
        break;
      }
      continue;
    }
    timeline.pendingAt ??= look.at;
    if (look.state === "firing") {
      timeline.firingAt ??= look.at;
      timeline.lastFiringAt = look.at;
    }
  }
  return timeline;
}

/**
 * Looks at one alert of a Prometheus every `intervalMs` and keeps what it saw, so a test
 * can line the alert's states up with what it measured on the same clock (a writer's,
 * say). A look that fails (a port-forward hiccup) is counted, not recorded.
 */
export class AlertWatcher {
  readonly looks: AlertLook[] = [];
  failedLooks = 0;
  private readonly prometheus: StartedPrometheus;
  private readonly name: string;
  private readonly clock: () => number;
  private readonly intervalMs: number;
  private stopped = false;
  private running?: Promise<void>;

  constructor(prometheus: StartedPrometheus, name: string, clock: () => number, intervalMs = 500) {
    this.prometheus = prometheus;
    this.name = name;
    this.clock = clock;
    this.intervalMs = intervalMs;
  }

  start(): this {
    this.running = this.loop();
    return this;
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      const at = this.clock();
      try {
        const alerts = (await this.prometheus.alerts()).filter((a) => a.labels.alertname === this.name);
        const state = alerts.some((a) => a.state === "firing")
          ? "firing"
          : alerts.some((a) => a.state === "pending")
            ? "pending"
            : "inactive";
        this.looks.push({ at, state });
      } catch {
        this.failedLooks++;
      }
      await new Promise((resolve) => setTimeout(resolve, this.intervalMs));
    }
  }

  /** The alert's first episode since `fromMs` (see alertTimeline). */
  timeline(fromMs?: number): AlertTimeline {
    return alertTimeline(this.looks, fromMs);
  }

  /** Stops looking. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
  }
}
