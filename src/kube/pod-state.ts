import type { CoreV1Event, V1ContainerStatus, V1Pod } from "@kubernetes/client-node";
import { isPodReady } from "./index.ts";

/** Restarts after which a container in CrashLoopBackOff is broken, not starting (a crash scenario kills once). */
export const CRASH_LOOP_RESTARTS = 3;

const statusesOf = (pod: V1Pod): V1ContainerStatus[] => [
  ...(pod.status?.initContainerStatuses ?? []),
  ...(pod.status?.containerStatuses ?? []),
];

/** One pod's state in a few words: `Ready`, `Init:1/2`, `valkey: CrashLoopBackOff (3 restarts)`, `Pending: Unschedulable`. */
export function podState(pod: V1Pod): string {
  if (isPodReady(pod)) return "Ready";
  const waiting = statusesOf(pod).find((s) => s.state?.waiting?.reason && s.state.waiting.reason !== "PodInitializing");
  if (waiting) return `${waiting.name}: ${waiting.state?.waiting?.reason} (${waiting.restartCount} restarts)`;
  const inits = pod.status?.initContainerStatuses ?? [];
  const initsDone = inits.filter((s) => s.state?.terminated?.exitCode === 0).length;
  if (inits.length > 0 && initsDone < inits.length) return `Init:${initsDone}/${inits.length}`;
  const unschedulable = pod.status?.conditions?.find((c) => c.type === "PodScheduled" && c.status === "False");
  if (unschedulable)
    return `Pending: ${unschedulable.reason}${unschedulable.message ? ` (${unschedulable.message})` : ""}`;
  if (pod.status?.phase === "Running") return "Running, not Ready";
  // Scheduled, its init containers done or not yet reported: the containers are being created.
  return pod.status?.phase === "Pending" && pod.spec?.nodeName ? "Pending: starting" : (pod.status?.phase ?? "unknown");
}

/** `2/3 pods Ready; valkey-2: Init:1/2`: how far a rollout is, and where it waits. */
export function rolloutProgress(pods: V1Pod[], want: number): string {
  const ready = pods.filter(isPodReady).length;
  const waiting = pods.filter((p) => !isPodReady(p)).map((p) => `${p.metadata?.name}: ${podState(p)}`);
  return `${ready}/${want} pods Ready${waiting.length ? `; ${waiting.join("; ")}` : ""}`;
}

/** A container in CrashLoopBackOff after CRASH_LOOP_RESTARTS restarts, with its last exit, or undefined. */
export function crashLoop(pods: V1Pod[]): string | undefined {
  for (const pod of pods) {
    for (const status of statusesOf(pod)) {
      if (status.state?.waiting?.reason !== "CrashLoopBackOff" || status.restartCount < CRASH_LOOP_RESTARTS) continue;
      const last = status.lastState?.terminated;
      return `container ${status.name} of ${pod.metadata?.name} is in CrashLoopBackOff after ${status.restartCount} restarts${last ? ` (last exit ${last.exitCode}${last.reason ? `, ${last.reason}` : ""}${last.message ? `: ${last.message.trim().split("\n").slice(-3).join(" / ")}` : ""})` : ""}`;
    }
  }
  return undefined;
}

/**
 * A pod the StatefulSet controller could not create because admission refused it (a Pod
 * Security violation, a webhook's denial), from its FailedCreate events since `since`: the
 * controller retries forever, so the rollout will not finish. Quota refusals are left out:
 * they clear when another release frees room.
 */
export function refusedPodCreation(events: CoreV1Event[], since: Date): string | undefined {
  const refused = events
    .filter(
      (e) =>
        e.reason === "FailedCreate" &&
        /is forbidden: violates PodSecurity|admission webhook "[^"]+" denied the request/.test(e.message ?? ""),
    )
    .filter((e) => (e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? new Date(0)) >= since)
    .at(-1);
  return refused ? `the API server refuses to create its pods: ${refused.message}` : undefined;
}

/** How long a pod may wait for a node its anti-affinity allows before a rollout gives up on it. */
export const ANTI_AFFINITY_PATIENCE_MS = 30_000;

/**
 * A pod the scheduler has kept Pending for `patienceMs` because no node satisfies its pod
 * anti-affinity (more pods than nodes under a required spread): it will not start until
 * a node is added, so the rollout stops with the scheduler's words instead of timing out.
 * (A cluster that adds nodes on demand would place it later; the rollout says why it stopped.)
 */
export function unschedulableBySpread(
  pods: V1Pod[],
  now: Date,
  patienceMs = ANTI_AFFINITY_PATIENCE_MS,
): string | undefined {
  for (const pod of pods) {
    const condition = pod.status?.conditions?.find(
      (c) => c.type === "PodScheduled" && c.status === "False" && c.reason === "Unschedulable",
    );
    // Every node refuses it for its anti-affinity alone: a cordoned, tainted or full node
    // in the message means the pod may yet start (a drain, a node coming back).
    const all = /^0\/(\d+) nodes are available: (\d+) node\(s\) didn't match pod anti-affinity rules\./.exec(
      condition?.message ?? "",
    );
    if (!condition?.lastTransitionTime || !all || all[1] !== all[2]) continue;
    const waited = now.getTime() - new Date(condition.lastTransitionTime).getTime();
    if (waited >= patienceMs)
      return `pod ${pod.metadata?.name} cannot be scheduled (Pending for ${Math.round(waited / 1000)} s): ${condition.message}`;
  }
  return undefined;
}
