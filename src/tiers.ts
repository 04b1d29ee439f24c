/**
 * Which vitest projects each tier runs (README, "Tiers"; docs/ci.md). `npm test` is the tier a
 * platform engineer runs before every change, so it stays near ten minutes on a 2-core
 * machine; `npm run test:full` adds the slow proofs and is what `.ci/run` runs. package.json
 * spells both lists out for vitest; a unit test holds them to these.
 */
/** `npm test`: chart renders, the cluster, every environment installed and checked, failures and crashes. */
const DEFAULT_TIER = ["unit", "chart", "cluster", "install", "failover"] as const;

export const TIERS = {
  default: DEFAULT_TIER,
  /**
   * `npm run test:full`: the default tier plus the mutation catalogue, the walk of a server
   * setting and the GitOps upgrade, dev-01 serving TLS, scaling, the backup-and-restore drill (the version matrix and the RDB-to-AOF
   * walk are opt-in, alone), node crashes with power loss and the server restart; the
   * failover suite breaks prod-01 too. Interrupted runs (their own clusters, 2.5 min) are
   * opt-in: ci.yml's full-tier job runs them, `.ci/run` does not (its fresh-machine budget).
   */
  full: [...DEFAULT_TIER, "mutations", "upgrade", "tls", "scaling", "backup", "node-crash", "node-restart"],
} as const;

export type Tier = keyof typeof TIERS;

/** The projects that only run when asked for (a setting or their own command), in no tier. */
export const OPT_IN_PROJECTS = [
  "bench",
  "cluster-upgrade",
  "upgrade-matrix",
  "upgrade-from-rdb",
  "interrupts",
] as const;

/** The `--project` names of a vitest command line, in order. */
export function projectsOf(commandLine: string): string[] {
  return [...commandLine.matchAll(/--project[ =]([\w-]+)/g)].map((m) => m[1] as string);
}
