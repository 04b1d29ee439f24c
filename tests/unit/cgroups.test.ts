import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, test } from "vitest";
import { nodeTreeParents, removeStaleTrees, thawNodeTrees } from "../../src/cluster/cgroups.ts";

const mounts: string[] = [];
afterEach(() => {
  for (const mount of mounts.splice(0)) rmSync(mount, { recursive: true, force: true });
});

/** A cgroup mount laid out as v1 hierarchies (or v2 with `unified`), each with node trees. */
function mountWith(trees: readonly string[], unified = false): string {
  const mount = mkdtempSync(join(tmpdir(), "valkey-harness-cgroups-"));
  mounts.push(mount);
  if (unified) writeFileSync(join(mount, "cgroup.controllers"), "cpu memory\n");
  for (const hierarchy of unified ? ["."] : ["memory", "cpu", "pids"]) {
    for (const tree of trees)
      mkdirSync(join(mount, hierarchy, "kube-node", tree, "kubepods", "besteffort"), { recursive: true });
  }
  mkdirSync(join(mount, unified ? "." : "memory", "docker", "0123456789ab"), { recursive: true });
  return mount;
}

describe("cgroups of gone node containers", () => {
  test("finds the node trees under every v1 hierarchy, or under the unified root", () => {
    expect(nodeTreeParents(mountWith(["aaaaaaaaaaaa"])).map((p) => p.split("/").slice(-2).join("/"))).toEqual([
      "cpu/kube-node",
      "memory/kube-node",
      "pids/kube-node",
    ]);
    const unified = mountWith(["aaaaaaaaaaaa"], true);
    expect(nodeTreeParents(unified)).toEqual([join(unified, "kube-node")]);
  });

  test("removes the trees of containers that no longer exist, from every hierarchy, and keeps the others", () => {
    const mount = mountWith(["aaaaaaaaaaaa", "bbbbbbbbbbbb", "cccccccccccc"]);
    const reaped = removeStaleTrees(nodeTreeParents(mount), new Set(["bbbbbbbbbbbb"]));
    expect(reaped).toEqual({ removed: ["aaaaaaaaaaaa", "cccccccccccc"], kept: [] });
    for (const hierarchy of ["memory", "cpu", "pids"]) {
      expect(existsSync(join(mount, hierarchy, "kube-node", "aaaaaaaaaaaa"))).toBe(false);
      expect(existsSync(join(mount, hierarchy, "kube-node", "bbbbbbbbbbbb", "kubepods", "besteffort"))).toBe(true);
    }
    expect(existsSync(join(mount, "memory", "docker", "0123456789ab"))).toBe(true);
  });

  test("a tree that refuses removal is reported as kept, not removed (the check can fail)", () => {
    const mount = mountWith(["aaaaaaaaaaaa"]);
    // A file stands in for a cgroup that still holds processes: rmdir refuses its folder.
    writeFileSync(join(mount, "cpu", "kube-node", "aaaaaaaaaaaa", "kubepods", "in-use"), "");
    expect(removeStaleTrees(nodeTreeParents(mount), new Set())).toEqual({ removed: [], kept: ["aaaaaaaaaaaa"] });
  });

  test("leaves folders that are not named like a container's hostname", () => {
    const mount = mountWith(["not-a-node"]);
    expect(removeStaleTrees(nodeTreeParents(mount), new Set())).toEqual({ removed: [], kept: [] });
    expect(existsSync(join(mount, "memory", "kube-node", "not-a-node"))).toBe(true);
  });
});

describe("frozen cgroups of node containers", () => {
  test("thaws v1 freezer and v2 freeze files below the named nodes only, and counts them", () => {
    const v1 = mountWith(["aaaaaaaaaaaa", "bbbbbbbbbbbb"]);
    const paused = join(v1, "freezer", "kube-node", "aaaaaaaaaaaa", "kubepods", "pod1", "task");
    const other = join(v1, "freezer", "kube-node", "bbbbbbbbbbbb", "kubepods", "pod2", "task");
    for (const dir of [paused, other]) {
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, "freezer.state"), "FROZEN\n");
    }
    expect(thawNodeTrees(["aaaaaaaaaaaa0123456789"], v1)).toBe(1);
    expect(readFileSync(join(paused, "freezer.state"), "utf8")).toBe("THAWED");
    expect(readFileSync(join(other, "freezer.state"), "utf8")).toBe("FROZEN\n");

    const v2 = mountWith(["cccccccccccc"], true);
    const task = join(v2, "kube-node", "cccccccccccc", "kubepods", "besteffort");
    writeFileSync(join(task, "cgroup.freeze"), "1\n");
    expect(thawNodeTrees(["cccccccccccc"], v2)).toBe(1);
    expect(readFileSync(join(task, "cgroup.freeze"), "utf8")).toBe("0");
    expect(thawNodeTrees(["cccccccccccc"], v2)).toBe(0);
  });
});
