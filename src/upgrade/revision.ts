import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { pinnedUpstreamVersion } from "../chart/wrapper.ts";
import { WRAPPER_CHART } from "../environments.ts";
import { fillOnce } from "../files.ts";
import { run } from "../process.ts";
import { cacheDir, SEMVER } from "../settings.ts";

/**
 * One side of an upgrade: a wrapper chart (its values, templates and pin) and the
 * upstream version installed with it.
 */
export interface Revision {
  /** As the report names it: `0.9.4`, `main (1a2b3c4)`, `worktree (0.9.0)`. */
  label: string;
  /** The wrapper chart's folder (the working tree's charts/valkey, or that folder as committed at a git ref). */
  chartDir: string;
  upstreamVersion: string;
}

const REPOSITORY = resolve(WRAPPER_CHART, "..", "..");

/** The working tree's wrapper with another upstream version: how a candidate pin is tried. */
export function upstreamRevision(version: string): Revision {
  return { label: version, chartDir: WRAPPER_CHART, upstreamVersion: version };
}

/**
 * A revision from what a person types: an upstream version (`0.9.4`) tries that pin on
 * the working tree's wrapper; `worktree` is the working tree as it is; anything else is a
 * git ref of this repository, whose charts/valkey is extracted (`git archive`) as
 * committed there, so its own pin, values and templates are what gets installed.
 */
export async function resolveRevision(spec: string, variable = "the revision"): Promise<Revision> {
  if (SEMVER.test(spec)) return upstreamRevision(spec);
  if (spec === "worktree") {
    return {
      label: `worktree (${pinnedUpstreamVersion()})`,
      chartDir: WRAPPER_CHART,
      upstreamVersion: pinnedUpstreamVersion(),
    };
  }
  const parsed = await run("git", ["-C", REPOSITORY, "rev-parse", "--verify", "--quiet", `${spec}^{commit}`]);
  if (parsed.code !== 0) {
    throw new Error(
      `${variable}=${spec}: neither an upstream chart version (such as 0.9.4), nor \`worktree\`, nor a git ref of ${REPOSITORY} (git rev-parse found no commit; fetch the branch first, e.g. git fetch origin ${spec})`,
    );
  }
  const commit = parsed.stdout.trim();
  const root = join(cacheDir(), "revisions", commit);
  const chartDir = join(root, "charts", "valkey");
  await fillOnce(
    root,
    async (scratch) => {
      const archive = await run("sh", [
        "-c",
        `git -C "$0" archive "$1" charts/valkey | tar -x -C "$2"`,
        REPOSITORY,
        commit,
        scratch,
      ]);
      if (archive.code !== 0 || !existsSync(join(scratch, "charts", "valkey", "Chart.yaml"))) {
        throw new Error(
          `${variable}=${spec}: commit ${commit} has no charts/valkey/Chart.yaml (${archive.stderr.trim()})`,
        );
      }
    },
    (dir) => existsSync(join(dir, "charts", "valkey", "Chart.yaml")),
  );
  const upstreamVersion = pinnedUpstreamVersion(chartDir);
  const named = commit.startsWith(spec) ? commit.slice(0, 7) : `${spec} (${commit.slice(0, 7)})`;
  return { label: `${named}, valkey ${upstreamVersion}`, chartDir, upstreamVersion };
}
