import type { V1Pod } from "@kubernetes/client-node";
import { describe, expect, test } from "vitest";
import {
  CRASH_LOOP_RESTARTS,
  crashLoop,
  podState,
  rolloutProgress,
  unschedulableBySpread,
} from "../../src/kube/pod-state.ts";

const pod = (name: string, status: V1Pod["status"]): V1Pod => ({ metadata: { name }, status });
const ready = pod("valkey-0", { phase: "Running", conditions: [{ type: "Ready", status: "True" }] });
const crashing = (restarts: number) =>
  pod("valkey-1", {
    phase: "Running",
    containerStatuses: [
      {
        name: "valkey",
        image: "valkey",
        imageID: "",
        ready: false,
        restartCount: restarts,
        state: { waiting: { reason: "CrashLoopBackOff" } },
        lastState: { terminated: { exitCode: 1, reason: "Error" } },
      },
    ],
  });

describe("pod states during a rollout", () => {
  test("a container in CrashLoopBackOff is broken from the third restart on, not after one crash", () => {
    expect(crashLoop([ready, crashing(1)])).toBeUndefined();
    expect(crashLoop([ready, crashing(CRASH_LOOP_RESTARTS)])).toBe(
      "container valkey of valkey-1 is in CrashLoopBackOff after 3 restarts (last exit 1, Error)",
    );
  });

  test("progress names the pods that are not Ready and where each waits", () => {
    const initializing = pod("valkey-2", {
      phase: "Pending",
      initContainerStatuses: [
        {
          name: "valkey-init",
          image: "",
          imageID: "",
          ready: false,
          restartCount: 0,
          state: { terminated: { exitCode: 0 } },
        },
        { name: "valkey-wrapper-init", image: "", imageID: "", ready: false, restartCount: 0, state: { running: {} } },
      ],
    });
    const unschedulable = pod("valkey-3", {
      phase: "Pending",
      conditions: [{ type: "PodScheduled", status: "False", reason: "Unschedulable", message: "0/4 nodes" }],
    });
    expect(podState(initializing)).toBe("Init:1/2");
    expect(podState(unschedulable)).toBe("Pending: Unschedulable (0/4 nodes)");
    expect(rolloutProgress([ready, crashing(1), initializing], 3)).toBe(
      "1/3 pods Ready; valkey-1: valkey: CrashLoopBackOff (1 restarts); valkey-2: Init:1/2",
    );
  });
});

describe("a pod no node may take under its required spread", () => {
  const pending = (message: string, since: string): V1Pod => ({
    metadata: { name: "valkey-4" },
    status: {
      phase: "Pending",
      conditions: [
        {
          type: "PodScheduled",
          status: "False",
          reason: "Unschedulable",
          message,
          lastTransitionTime: new Date(since),
        },
      ],
    },
  });
  const everyNode =
    "0/4 nodes are available: 4 node(s) didn't match pod anti-affinity rules. preemption: 0/4 nodes are available: 4 No preemption victims found for incoming pod.";
  const now = new Date("2026-12-05T10:01:00Z");

  test("stops the rollout after 30 s with the scheduler's words", () => {
    expect(unschedulableBySpread([pending(everyNode, "2026-12-05T10:00:00Z")], now)).toMatch(
      /^pod valkey-4 cannot be scheduled \(Pending for 60 s\): 0\/4 nodes are available: 4 node\(s\) didn't match pod anti-affinity/,
    );
  });

  test("waits before that", () => {
    expect(unschedulableBySpread([pending(everyNode, "2026-12-05T10:00:45Z")], now)).toBeUndefined();
  });

  test("waits while a node is only cordoned or tainted (a drain, a node coming back)", () => {
    const drain =
      "0/4 nodes are available: 1 node(s) were unschedulable, 3 node(s) didn't match pod anti-affinity rules. preemption: 0/4 nodes are available: 4 Preemption is not helpful for scheduling.";
    expect(unschedulableBySpread([pending(drain, "2026-12-05T10:00:00Z")], now)).toBeUndefined();
  });
});
