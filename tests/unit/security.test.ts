import { describe, expect, test } from "vitest";
import {
  capabilityNames,
  credentialProblems,
  mountsTokenDirectory,
  parseProcessStatus,
} from "../../src/checks/security.ts";
import { refusedPodCreation } from "../../src/kube/pod-state.ts";

const STATUS = `Name:\tvalkey-server
Umask:\t0022
State:\tS (sleeping)
Uid:\t1000\t1000\t1000\t1000
Gid:\t1000\t1000\t1000\t1000
CapInh:\t0000000000000000
CapPrm:\t0000000000000000
CapEff:\t0000000000000000
CapBnd:\t0000000000000000
NoNewPrivs:\t1
Seccomp:\t2
`;

describe("a process's credentials read from /proc/<pid>/status", () => {
  test("a non-root process without privileges: nothing to say", () => {
    const process = parseProcessStatus(STATUS);
    expect(process).toEqual({ uid: 1000, noNewPrivs: true, boundingCapabilities: 0n });
    expect(credentialProblems(process)).toEqual([]);
  });

  test("NET_BIND_SERVICE, the one capability restricted allows, is no problem", () => {
    const bind = parseProcessStatus(STATUS.replace("CapBnd:\t0000000000000000", "CapBnd:\t0000000000000400"));
    expect(credentialProblems(bind)).toEqual([]);
  });

  test("root with no_new_privs off and capabilities: each said, the effective uid being the second column", () => {
    const root = STATUS.replace("Uid:\t1000\t1000", "Uid:\t1000\t0")
      .replace("NoNewPrivs:\t1", "NoNewPrivs:\t0")
      .replace("CapBnd:\t0000000000000000", "CapBnd:\t0000000000002400");
    expect(credentialProblems(parseProcessStatus(root))).toEqual([
      "runs as root (Uid 0)",
      "may gain privileges (NoNewPrivs 0: allowPrivilegeEscalation is not false)",
      "may gain capabilities (CapBnd 2400: NET_RAW)",
    ]);
  });

  test("capability names by bit", () => {
    expect(capabilityNames(0x200000n | 1n)).toEqual(["CHOWN", "SYS_ADMIN"]);
  });

  test("a status without the lines fails naming the line", () => {
    expect(() => parseProcessStatus("Name:\tx\n")).toThrow(/no Uid line/);
  });
});

describe("a mount that would hide or provide the API token", () => {
  test.each([
    ["/var/run/secrets/kubernetes.io/serviceaccount", true],
    ["/var/run/secrets/kubernetes.io/serviceaccount/token", true],
    ["/var/run/secrets", true],
    ["/var/run/", true],
    ["/var/r", false],
    ["/data", false],
    ["/var/run/secrets-other", false],
  ])("%s: %s", (path, expected) => {
    expect(mountsTokenDirectory(path)).toBe(expected);
  });
});

describe("a StatefulSet's pods refused by admission", () => {
  const event = (message: string, at: string) => ({
    metadata: {},
    involvedObject: {},
    reason: "FailedCreate",
    message,
    lastTimestamp: new Date(at),
  });
  const refusal =
    'create Pod valkey-0 in StatefulSet valkey failed error: pods "valkey-0" is forbidden: violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false';
  const since = new Date("2026-12-05T10:00:00Z");

  test("a Pod Security refusal since the rollout began stops the wait with the API server's words", () => {
    expect(refusedPodCreation([event(refusal, "2026-12-05T10:00:03Z")], since)).toMatch(
      /refuses to create its pods: .*violates PodSecurity "restricted:latest"/,
    );
  });

  test("a webhook's denial stops it too", () => {
    const webhook =
      'create Pod valkey-0 in StatefulSet valkey failed error: admission webhook "validate.kyverno.svc-fail" denied the request: policy disallow-latest-tag';
    expect(refusedPodCreation([event(webhook, "2026-12-05T10:00:03Z")], since)).toMatch(/kyverno/);
  });

  test("one from before the rollout (an earlier revision's) does not", () => {
    expect(refusedPodCreation([event(refusal, "2026-12-05T09:59:00Z")], since)).toBeUndefined();
  });

  test("a quota refusal does not: it clears when room is freed", () => {
    const quota = 'pods "valkey-0" is forbidden: exceeded quota: compute, requested: limits.memory=6Gi';
    expect(refusedPodCreation([event(quota, "2026-12-05T10:00:03Z")], since)).toBeUndefined();
  });
});
