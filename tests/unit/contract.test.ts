import { cpSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { environmentValues, mergeValues } from "../../src/chart/values.ts";
import {
  assertEnvironmentsKeep,
  contractChanges,
  judgeValues,
  platformContract,
  readContract,
  type Terms,
} from "../../src/contract.ts";
import { WRAPPER_CHART } from "../../src/environments.ts";
import { scratchDir } from "../../src/files.ts";

const contract = platformContract();
const prod = contract.terms["prod-01"] as Terms;

/** A copy of the wrapper's values and contract, to break one file at a time. */
function chartCopy(): string {
  const dir = join(scratchDir("contract-"), "valkey");
  cpSync(WRAPPER_CHART, dir, { recursive: true, filter: (source) => !source.includes("/templates") });
  return dir;
}

describe("the platform's contract", () => {
  test("is kept by every committed environment file", () => {
    expect(() => assertEnvironmentsKeep(contract, WRAPPER_CHART)).not.toThrow();
    expect(Object.keys(contract.terms).sort()).toEqual(["dev-01", "prod-01", "stag-01"]);
  });

  test("gives environments it does not name the defaults, and each named one its own promises on top", () => {
    expect(contract.terms["dev-01"]?.replicas).toEqual({ atLeast: 2 });
    expect(contract.terms["dev-01"]?.authentication).toBeUndefined();
    expect(prod.replicas).toEqual({ atLeast: 3 });
    expect(prod.appendOnly).toBe(true);
    expect(prod.budgets.upgradeStep.writesUnavailableSeconds).toBeGreaterThan(0);
  });

  const prodValues = environmentValues("prod-01");
  const broken = (layer: Record<string, unknown>) =>
    judgeValues(prod, mergeValues(prodValues, layer))
      .filter((v) => !v.kept)
      .map((v) => v.promise);

  test.each([
    ["authentication off", { valkey: { auth: { enabled: false } } }, "authentication"],
    ["a listed user removed", { valkey: { auth: { aclUsers: { metrics: null } } } }, "authentication"],
    [
      "a namespace added to the policy",
      { networkPolicy: { allowedNamespaces: ["checkout", "sessions", "x"] } },
      "networkPolicy",
    ],
    ["a label set removed from the policy", { networkPolicy: { allowedPodLabels: [] } }, "networkPolicy"],
    ["the policy off", { networkPolicy: { enabled: false } }, "networkPolicy"],
    ["maxUnavailable 0", { podDisruptionBudget: { maxUnavailable: 0 } }, "podDisruptionBudget"],
    ["maxUnavailable 2", { podDisruptionBudget: { maxUnavailable: 2 } }, "podDisruptionBudget"],
    ["maxUnavailable as a percentage", { podDisruptionBudget: { maxUnavailable: "50%" } }, "podDisruptionBudget"],
    ["the budget off", { podDisruptionBudget: { enabled: false } }, "podDisruptionBudget"],
    ["minReplicasToWrite 0", { valkey: { replica: { minReplicasToWrite: 0 } } }, "minReplicasToWrite"],
    ["two replicas", { valkey: { replica: { replicas: 2 } } }, "replicas"],
    [
      "preferred anti-affinity",
      {
        valkey: {
          affinity: {
            podAntiAffinity: {
              requiredDuringSchedulingIgnoredDuringExecution: null,
              preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 1, podAffinityTerm: {} }],
            },
          },
        },
      },
      "antiAffinity",
    ],
    ["reclaimPolicy Delete", { storageClass: { reclaimPolicy: "Delete" } }, "reclaimPolicy"],
    ["the append-only file off", { valkey: { valkeyConfig: "appendonly no\n" } }, "appendOnly"],
    ["server configuration without the AOF", { valkey: { valkeyConfig: "maxmemory 1gb\n" } }, "appendOnly"],
    [
      "privilege escalation allowed",
      { valkey: { securityContext: { allowPrivilegeEscalation: true } } },
      "podSecurity",
    ],
    ["the pod as root", { valkey: { podSecurityContext: { runAsUser: 0 } } }, "podSecurity"],
    ["no seccomp profile", { valkey: { podSecurityContext: { seccompProfile: null } } }, "podSecurity"],
    ["runAsNonRoot unset", { valkey: { podSecurityContext: { runAsNonRoot: null } } }, "podSecurity"],
    [
      "a container's seccomp unconfined",
      { valkey: { securityContext: { seccompProfile: { type: "Unconfined" } } } },
      "podSecurity",
    ],
    ["a capability added", { valkey: { securityContext: { capabilities: { add: ["NET_ADMIN"] } } } }, "podSecurity"],
    ["the exporter's context dropped", { valkey: { metrics: { exporter: { securityContext: null } } } }, "podSecurity"],
    [
      "an init container that may escalate",
      { valkey: { extraInitContainers: [{ name: "x", securityContext: { capabilities: { drop: ["ALL"] } } }] } },
      "podSecurity",
    ],
  ])("on paper, refuses prod-01 values with %s", (_, layer, promise) => {
    expect(broken(layer)).toEqual([promise]);
  });

  test("names the environment file, its line, the contract's line and the fix when a file breaks a promise", () => {
    const dir = chartCopy();
    writeFileSync(
      join(dir, "values.prod-01.yaml"),
      `${"# padding\n".repeat(3)}podDisruptionBudget:\n  enabled: true\n  maxUnavailable: 0\n`,
    );
    const copy = readContract(join(dir, "contract.yaml"), dir);
    expect(() => assertEnvironmentsKeep(copy, dir)).toThrow(
      /values\.prod-01\.yaml:6: breaks the platform's promise prod-01 podDisruptionBudget \(.*contract\.yaml:\d+\): it asks a PodDisruptionBudget with maxUnavailable at least 1 and at most 1, the values say maxUnavailable 0.*Fix: restore/,
    );
  });

  test.each([
    [
      "an unknown environment",
      "environments:\n  prod-02: {}\n",
      /contract\.yaml:2: environments\.prod-02: names no environment of the chart.*Fix: add charts\/valkey\/values\.prod-02\.yaml/,
    ],
    [
      "an unknown promise",
      "defaults:\n  replica: {atLeast: 1}\n",
      /contract\.yaml:2: defaults\.replica: is not a promise.*Fix: use one of replicas/,
    ],
    ["an unknown section", "environment: {}\n", /contract\.yaml:1: environment: is not a section/],
    [
      "a bound that is not a number",
      "defaults:\n  replicas: {atLeast: two}\n",
      /contract\.yaml:2: defaults\.replicas\.atLeast: must be a whole number/,
    ],
    [
      "an unknown budget figure",
      "defaults:\n  budgets:\n    upgradeStep:\n      p99: 5\n",
      /contract\.yaml:4: defaults\.budgets\.upgradeStep\.p99: is not a figure of this budget/,
    ],
    [
      "a NetworkPolicy promise without its namespaces",
      'environments:\n  prod-01:\n    networkPolicy:\n      allowedPodLabels: [{ a: "b" }]\n',
      /contract\.yaml:3: environments\.prod-01\.networkPolicy: must give allowedNamespaces \(names\) and allowedPodLabels/,
    ],
    [
      "a range nothing keeps",
      "defaults:\n  replicas: {atLeast: 5, atMost: 1}\n",
      /contract\.yaml:2: defaults\.replicas: asks at least 5 and at most 1: nothing keeps it/,
    ],
    ["budgets that are no map", "defaults:\n  budgets: 5\n", /contract\.yaml:2: defaults\.budgets: must map budgets/],
  ])("refuses a contract with %s, naming the file, the line and the fix", (_, text, message) => {
    const dir = chartCopy();
    writeFileSync(join(dir, "contract.yaml"), text);
    expect(() => readContract(join(dir, "contract.yaml"), dir)).toThrow(message);
  });

  test("says what changed between two contracts, promise by promise", () => {
    const dir = chartCopy();
    writeFileSync(join(dir, "contract.yaml"), "environments:\n  prod-01:\n    replicas: {atLeast: 2}\n");
    const weaker = readContract(join(dir, "contract.yaml"), dir);
    const changes = contractChanges(contract, weaker);
    expect(changes).toContain('prod-01 replicas: {"atLeast":3} -> {"atLeast":2}');
    expect(changes.some((c) => c.startsWith("prod-01 authentication:") && c.endsWith("-> no promise"))).toBe(true);
    expect(contractChanges(undefined, contract)).toEqual(["the platform's contract is introduced by this revision"]);
    expect(contractChanges(contract, contract)).toEqual([]);
  });
});
