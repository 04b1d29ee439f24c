import { type SpawnSyncReturns, spawnSync } from "node:child_process";
import { reportCleanupFailure } from "../cleanup-log.ts";
import { onEndingSignal, onProcessEnd } from "../exit.ts";
import { processAlive, run, runOrThrow } from "../process.ts";
import { thawNodeTrees } from "./cgroups.ts";

/** Every container, volume and network the harness creates carries these labels. */
export const HARNESS_LABEL = "org.valkey-harness.managed";
export const OWNER_PID_LABEL = "org.valkey-harness.pid";

/** The owner label of a cluster kept after its process exits (`npm run cluster -- up`); `down` removes it. */
export const KEPT_OWNER = "kept";
let owner = String(process.pid);

/** What this process starts from now on outlives it: not reaped as a crash's leftover, removed by `npm run cluster -- down`. */
export function keepAfterExit(): void {
  owner = KEPT_OWNER;
}

/** The labels of everything the harness creates; asking for them arms the removal of this run's objects at its end. */
export function harnessLabels(): Record<string, string> {
  removeOnProcessEnd();
  return { [HARNESS_LABEL]: "true", [OWNER_PID_LABEL]: owner, [RUN_LABEL]: RUN_ID };
}

/** Labelled objects of a kind (`ps -a` or `network ls`) whose owning process is gone. */
async function orphansOf(kind: "container" | "network"): Promise<{ id: string; name: string; pid: string }[]> {
  const listed = await runOrThrow("docker", [
    ...(kind === "container" ? ["ps", "-a"] : ["network", "ls"]),
    "--filter",
    `label=${HARNESS_LABEL}=true`,
    "--format",
    `{{.ID}} ${kind === "container" ? "{{.Names}}" : "{{.Name}}"} {{.Label "${OWNER_PID_LABEL}"}}`,
  ]);
  return listed
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const [id = "", name = "", pid = ""] = line.split(" ");
      return { id, name, pid };
    })
    .filter(({ pid }) => pid !== KEPT_OWNER && (!pid || !processAlive(Number(pid))));
}

/**
 * Removes what crashed runs left behind (containers, their volumes, networks whose owning
 * process is gone) and says what it removed. A removal that fails is reported, not hidden.
 */
export async function reapLeftovers(log: (line: string) => void = console.log): Promise<void> {
  const containers = await orphansOf("container");
  if (containers.length > 0) {
    log(
      `[cleanup] removing ${containers.length} container(s) left by earlier runs: ${containers.map((c) => `${c.name} (${c.id}, pid ${c.pid || "?"})`).join(", ")}`,
    );
    const removed = removeContainers(containers.map((c) => c.id));
    if (removed.status !== 0)
      console.error(`[cleanup] could not remove every leftover container: ${removed.stderr?.trim()}`);
  }
  for (const network of await orphansOf("network")) {
    detachEveryContainer(network.id);
    const removed = await run("docker", ["network", "rm", network.id]);
    if (removed.code === 0) log(`[cleanup] removed network ${network.name} left by pid ${network.pid || "?"}`);
    else reportCleanupFailure(`could not remove network ${network.name}: ${removed.stderr.trim()}`);
  }
  const volumes = await run("docker", ["volume", "prune", "-f", "--filter", `label=${HARNESS_LABEL}=true`]);
  if (volumes.code !== 0) reportCleanupFailure(`could not prune labelled volumes: ${volumes.stderr.trim()}`);
  else if (/Total reclaimed space: [1-9]/.test(volumes.stdout))
    log(`[cleanup] ${volumes.stdout.trim().split("\n").at(-1)}`);
}

/**
 * `docker rm -f -v` of node containers. A container task paused inside a node (the failover
 * suite freezes an exporter with `ctr task pause`; an interrupt can come before it resumes
 * it) is a frozen process the engine cannot kill ("did not receive an exit event"): then
 * the nodes' frozen cgroups are thawed and the removal tried once more.
 */
export function removeContainers(ids: string[]): SpawnSyncReturns<string> {
  const remove = () => spawnSync("docker", ["rm", "-f", "-v", ...ids], { encoding: "utf8" });
  const first = remove();
  if (first.status === 0 || !/did not receive an exit event/i.test(first.stderr ?? "")) return first;
  const thawed = thawNodeTrees(ids);
  if (thawed === 0) return first;
  console.error(`[cleanup] thawed ${thawed} frozen cgroup(s) in the nodes (a paused container task), removing again`);
  const listed = spawnSync("docker", ["ps", "-aq", "--no-trunc"], { encoding: "utf8" }).stdout ?? "";
  const still = ids.filter((id) => listed.includes(id));
  return still.length > 0 ? spawnSync("docker", ["rm", "-f", "-v", ...still], { encoding: "utf8" }) : first;
}

/**
 * This process's run: every container and network it creates carries it, from the moment
 * Docker creates the object (before any start returns). When the process ends, what carries
 * it is found by the label and removed, so an interrupt in the middle of a cluster's start
 * leaves nothing either; a second pass catches a create that Docker was still serving.
 */
export const RUN_LABEL = "org.valkey-harness.run";
const RUN_ID = `${process.pid}-${Date.now().toString(36)}`;
/** Objects handed over to outlive the run (a kept cluster once its start succeeded). */
const released = new Set<string>();

function listRunObjects(kind: "container" | "network", keptToo: boolean): string[] {
  const filters = ["--filter", `label=${RUN_LABEL}=${RUN_ID}`];
  const listed = spawnSync(
    "docker",
    [
      ...(kind === "container" ? ["ps", "-a"] : ["network", "ls"]),
      ...filters,
      "--format",
      `${kind === "container" ? "{{.ID}}" : "{{.Name}}"} {{.Label "${OWNER_PID_LABEL}"}}`,
    ],
    { encoding: "utf8" },
  );
  return (
    (listed.stdout ?? "")
      .trim()
      .split("\n")
      .filter(Boolean)
      .map((line) => line.split(" ") as [string, string | undefined])
      // Containers are listed by their short ID (released holds full ones), networks by name.
      .filter(
        ([id, pid]) =>
          (keptToo || pid !== KEPT_OWNER) &&
          ![...released].some((r) => (kind === "container" ? r.startsWith(id) : r === id)),
      )
      .map(([id]) => id)
  );
}

/**
 * Removes the run's containers (with their volumes) and networks synchronously: the last
 * resort when the process ends. A signal removes kept objects still being made too.
 */
function removeRunObjects(bySignal: boolean): void {
  for (let pass = 0; pass < (bySignal ? 3 : 1); pass++) {
    if (pass > 0) spawnSync("sleep", ["0.5"]);
    const containers = listRunObjects("container", bySignal);
    const networks = listRunObjects("network", bySignal);
    if (containers.length === 0 && networks.length === 0 && pass > 0) break;
    if (bySignal && containers.length + networks.length > 0)
      console.error(
        `[cleanup] removing ${containers.length} container(s) and ${networks.length} network(s) of this run`,
      );
    if (containers.length > 0) {
      const result = removeContainers(containers);
      if (result.status !== 0)
        reportCleanupFailure(`docker rm of the run's containers failed: ${result.stderr?.trim()}`);
    }
    for (const network of networks) {
      detachEveryContainer(network);
      const result = spawnSync("docker", ["network", "rm", network], { encoding: "utf8" });
      if (result.status !== 0 && !/not found/i.test(result.stderr ?? ""))
        reportCleanupFailure(`docker network rm of the run's network ${network} failed: ${result.stderr?.trim()}`);
    }
  }
}

let endHandlersInstalled = false;
function removeOnProcessEnd(): void {
  if (endHandlersInstalled) return;
  endHandlersInstalled = true;
  let removedBySignal = false;
  onEndingSignal("the run's containers and networks", () => {
    removedBySignal = true;
    removeRunObjects(true);
  });
  onProcessEnd("the run's containers and networks", () => {
    if (!removedBySignal) removeRunObjects(false);
  });
}

/** Hands a container over to outlive the process (a kept cluster's node, once started). */
export function disownContainer(id: string): void {
  released.add(id);
}

/** Creates a labelled Docker network, removed with the process's containers if the run ends early. */
export async function createOwnedNetwork(name: string): Promise<string> {
  const labels = Object.entries(harnessLabels()).flatMap(([k, v]) => ["--label", `${k}=${v}`]);
  await runOrThrow("docker", ["network", "create", ...labels, name]);
  return name;
}

/** Hands a network over to outlive the process. */
export function disownNetwork(name: string): void {
  released.add(name);
}

/** Removes a network of the run; throws (it is then removed when the process ends) when Docker refuses. */
export async function removeOwnedNetwork(name: string): Promise<void> {
  detachEveryContainer(name);
  const removed = await run("docker", ["network", "rm", name]);
  if (removed.code !== 0 && !/not found/i.test(removed.stderr)) {
    throw new Error(`docker network rm ${name} failed: ${removed.stderr.trim()}`);
  }
}

/**
 * Disconnects what is still attached to a network about to be removed: a container the
 * harness did not start there (the local registry) would otherwise keep it alive.
 */
export function detachEveryContainer(network: string): void {
  const listed = spawnSync(
    "docker",
    ["network", "inspect", "--format", "{{range $id, $c := .Containers}}{{$id}} {{end}}", network],
    { encoding: "utf8" },
  );
  for (const id of listed.stdout?.trim().split(/\s+/).filter(Boolean) ?? []) {
    spawnSync("docker", ["network", "disconnect", "-f", network, id], { encoding: "utf8" });
  }
}
