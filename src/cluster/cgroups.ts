/**
 * Cgroup trees of node containers that are gone. The nodes share the host's cgroup
 * hierarchy (--cgroupns=host, as K3sContainer sets it) and put their pods' cgroups under
 * /kube-node/<container hostname>. A node killed or stopped before its pods leaves its tree
 * there, and every kubelet's cAdvisor walks all such trees when it starts: 436 of them on
 * this machine after a day of runs made each kubelet start 2-7 s slower. Nodes remove their
 * own tree when they stop; this removes what crashes left, before every cluster start.
 */
import { accessSync, constants, existsSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { run, runOrThrow } from "../process.ts";
import { harnessLabels } from "./cleanup.ts";

const CGROUP_MOUNT = "/sys/fs/cgroup";
const NODE_TREE = "kube-node";
/** A node's tree is named by its hostname: the first 12 hex digits of its container ID. */
const CONTAINER_HOSTNAME = /^[0-9a-f]{12}$/;

/** The folders holding node trees: under each v1 hierarchy, or under the unified (v2) root. */
export function nodeTreeParents(mount = CGROUP_MOUNT): string[] {
  if (!existsSync(mount)) return [];
  const hierarchies = existsSync(join(mount, "cgroup.controllers"))
    ? [mount]
    : readdirSync(mount, { withFileTypes: true })
        .filter((entry) => entry.isDirectory())
        .map((entry) => join(mount, entry.name));
  return hierarchies.map((hierarchy) => join(hierarchy, NODE_TREE)).filter((parent) => existsSync(parent));
}

/** Removes a cgroup folder bottom-up; a cgroup that still holds processes refuses and stays. */
function removeTree(folder: string): boolean {
  for (const entry of readdirSync(folder, { withFileTypes: true })) {
    if (entry.isDirectory()) removeTree(join(folder, entry.name));
  }
  try {
    rmdirSync(folder);
    return true;
  } catch {
    return false;
  }
}

export interface ReapedTrees {
  /** Hostnames whose trees were removed from every hierarchy. */
  removed: string[];
  /** Hostnames of gone containers whose trees could not be removed everywhere. */
  kept: string[];
}

/** Removes the trees under `parents` whose container is not among `existing` (hostnames). */
export function removeStaleTrees(parents: readonly string[], existing: ReadonlySet<string>): ReapedTrees {
  const removed = new Set<string>();
  const kept = new Set<string>();
  for (const parent of parents) {
    for (const entry of readdirSync(parent, { withFileTypes: true })) {
      if (!entry.isDirectory() || !CONTAINER_HOSTNAME.test(entry.name) || existing.has(entry.name)) continue;
      (removeTree(join(parent, entry.name)) ? removed : kept).add(entry.name);
    }
  }
  for (const name of kept) removed.delete(name);
  return { removed: [...removed].sort(), kept: [...kept].sort() };
}

const REAP_SCRIPT = `
for parent in /sys/fs/cgroup/kube-node /sys/fs/cgroup/*/kube-node; do
  [ -d "$parent" ] || continue
  for tree in "$parent"/*/; do
    name=$(basename "$tree")
    case " $* " in *" $name "*) continue ;; esac
    echo "$name" | grep -qE '^[0-9a-f]{12}$' || continue
    find "$tree" -depth -type d -exec rmdir {} + 2>/dev/null
    if [ -d "$tree" ]; then echo "kept $name"; else echo "removed $name"; fi
  done
done`;

function writable(folder: string): boolean {
  try {
    accessSync(folder, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Removes the cgroup trees of node containers that no longer exist and says how many. Here
 * (Linux, the Docker engine's own cgroups writable) directly; otherwise (Docker Desktop's VM,
 * a user without rights on the cgroups) in a throwaway container of `image` that mounts them.
 */
export async function reapStaleNodeCgroups(image: string, log: (line: string) => void): Promise<void> {
  const existing = new Set(
    (await runOrThrow("docker", ["ps", "-a", "--no-trunc", "-q"]))
      .split("\n")
      .filter(Boolean)
      .map((id) => id.slice(0, 12)),
  );
  const parents = process.platform === "linux" ? nodeTreeParents() : [];
  let reaped: ReapedTrees;
  if (process.platform === "linux" && parents.every(writable)) {
    reaped = removeStaleTrees(parents, existing);
  } else {
    const labels = Object.entries(harnessLabels()).flatMap(([k, v]) => ["--label", `${k}=${v}`]);
    const result = await run("docker", [
      "run",
      "--rm",
      ...labels,
      "-v",
      `${CGROUP_MOUNT}:${CGROUP_MOUNT}`,
      "--entrypoint",
      "sh",
      image,
      "-c",
      REAP_SCRIPT,
      "reap",
      ...existing,
    ]);
    if (result.code !== 0) {
      log(`[cleanup] could not look for cgroups of gone node containers: ${result.stderr.trim()}`);
      return;
    }
    const lines = result.stdout.trim().split("\n");
    const named = (word: string) => [...new Set(lines.filter((l) => l.startsWith(word)).map((l) => l.split(" ")[1]))];
    const kept = named("kept ") as string[];
    reaped = { removed: (named("removed ") as string[]).filter((n) => !kept.includes(n)), kept };
  }
  if (reaped.removed.length > 0) {
    log(
      `[cleanup] removed the pod cgroups of ${reaped.removed.length} node container(s) that no longer exist (every kubelet walks them at start)`,
    );
  }
  if (reaped.kept.length > 0) {
    log(`[cleanup] could not remove the cgroups of gone node container(s) ${reaped.kept.join(", ")}: still in use`);
  }
}

/** Thaws every frozen cgroup below `folder` (v1 freezer.state, v2 cgroup.freeze); returns how many. */
function thawTree(folder: string): number {
  let thawed = 0;
  const attempt = (file: string, frozen: string, thaw: string) => {
    try {
      if (readFileSync(file, "utf8").trim() !== frozen) return;
      writeFileSync(file, thaw);
      thawed++;
    } catch {
      // gone meanwhile, or not ours to write
    }
  };
  attempt(join(folder, "freezer.state"), "FROZEN", "THAWED");
  attempt(join(folder, "cgroup.freeze"), "1", "0");
  for (const entry of readdirSync(folder, { withFileTypes: true })) {
    if (entry.isDirectory()) thawed += thawTree(join(folder, entry.name));
  }
  return thawed;
}

/**
 * Thaws what is frozen in the pod cgroups of these node containers (IDs, short or full): a
 * container task paused with `ctr task pause` (the failover suite freezes an exporter so)
 * cannot be killed, and the engine then refuses to remove its node ("did not receive an
 * exit event"). Linux with writable cgroups only; returns how many cgroups were thawed.
 */
export function thawNodeTrees(containerIds: readonly string[], mount = CGROUP_MOUNT): number {
  if (process.platform !== "linux") return 0;
  let thawed = 0;
  for (const parent of nodeTreeParents(mount)) {
    for (const id of containerIds) {
      const tree = join(parent, id.slice(0, 12));
      if (existsSync(tree)) thawed += thawTree(tree);
    }
  }
  return thawed;
}
