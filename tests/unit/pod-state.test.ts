import type { V1Pod } from "@kubernetes/client-node";
import { describe, expect, test } from "vitest";
import { CRASH_LOOP_RESTARTS, crashLoop, podState, rolloutProgress } from "../../src/kube/pod-state.ts";

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
