import { authentication, networkPolicy } from "./access.ts";
import type { Check } from "./check.ts";
import { CONTRACT_CHECKS } from "./contract.ts";
import { primaryRestart, processCrash, rdbOnlyRestart, replicaResync } from "./durability.ts";
import { maxmemory } from "./memory.ts";
import { exporters, scrapeAnnotations } from "./metrics.ts";
import { containerResources, disruptionBudget, podSpread } from "./pods.ts";
import { discovery, scrapeOnlyFromAdmitted, series } from "./prometheus.ts";
import {
  helmTest,
  replicationAddress,
  replicationOfWrites,
  replicationTopology,
  serverSettings,
  writeSafetyConfig,
} from "./replication.ts";
import { apiPermissions, nonRootProcesses, serviceAccountToken } from "./security.ts";
import { storageClass, volumeClaims } from "./storage.ts";
import { tlsInTransit } from "./tls.ts";

export {
  type Check,
  type CheckContext,
  CheckFailure,
  CheckNotApplicable,
  unmetRequirement,
  Verdict,
} from "./check.ts";
export { termsOf } from "./contract.ts";
export { type Expected, expectedOf } from "./expected.ts";

/**
 * Every check of an installed environment, in the order they run: those that only read
 * first, then those that delete pods or volumes. Adding a check is adding it here; the
 * install suite runs each as a test named by its promise, and the mutation suite proves
 * each can fail (fixtures/mutations/).
 */
export const CHECKS: readonly Check[] = [
  replicationTopology,
  replicationAddress,
  replicationOfWrites,
  helmTest,
  writeSafetyConfig,
  serverSettings,
  maxmemory,
  storageClass,
  volumeClaims,
  exporters,
  scrapeAnnotations,
  discovery,
  series,
  scrapeOnlyFromAdmitted,
  containerResources,
  podSpread,
  disruptionBudget,
  authentication,
  tlsInTransit,
  networkPolicy,
  serviceAccountToken,
  nonRootProcesses,
  apiPermissions,
  ...CONTRACT_CHECKS,
  primaryRestart,
  rdbOnlyRestart,
  replicaResync,
  processCrash,
];

export function checkById(id: string): Check {
  const check = CHECKS.find((c) => c.id === id);
  if (!check) throw new Error(`no check with id ${id}; known: ${CHECKS.map((c) => c.id).join(", ")}`);
  return check;
}
