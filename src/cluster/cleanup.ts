import { spawnSync } from "node:child_process";
import { reportCleanupFailure } from "../cleanup-log.ts";
import { run, runOrThrow } from "../process.ts";

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

export function harnessLabels(): Record<string, string> {
  return { [HARNESS_LABEL]: "true", [OWNER_PID_LABEL]: owner };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
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
    .filter(({ pid }) => pid !== KEPT_OWNER && (!pid || !alive(Number(pid))));
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
    const removed = await run("docker", ["rm", "-f", "-v", ...containers.map((c) => c.id)]);
    if (removed.code !== 0)
      console.error(`[cleanup] could not remove every leftover container: ${removed.stderr.trim()}`);
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

const owned = new Set<string>();
const ownedNetworks = new Set<string>();
let handlersInstalled = false;

/** Removes the process's containers and networks synchronously: the last resort on exit and signals. */
function removeOwnedNow(): void {
  if (owned.size > 0) {
    const result = spawnSync("docker", ["rm", "-f", "-v", ...owned], { encoding: "utf8" });
    if (result.status !== 0) reportCleanupFailure(`docker rm of the run's containers failed: ${result.stderr?.trim()}`);
  }
  if (ownedNetworks.size > 0) {
    for (const network of ownedNetworks) detachEveryContainer(network);
    const result = spawnSync("docker", ["network", "rm", ...ownedNetworks], { encoding: "utf8" });
    if (result.status !== 0)
      reportCleanupFailure(`docker network rm of the run's networks failed: ${result.stderr?.trim()}`);
  }
  owned.clear();
  ownedNetworks.clear();
}

/**
 * Records a container for removal if the process ends without stopping it (Ctrl-C,
 * SIGTERM from CI, a crash).
 */
export function ownContainer(id: string): void {
  owned.add(id);
  installHandlers();
}

export function disownContainer(id: string): void {
  owned.delete(id);
}

/** Creates a labelled Docker network, removed with the process's containers if the run ends early. */
export async function createOwnedNetwork(name: string): Promise<string> {
  const labels = Object.entries(harnessLabels()).flatMap(([k, v]) => ["--label", `${k}=${v}`]);
  await runOrThrow("docker", ["network", "create", ...labels, name]);
  ownedNetworks.add(name);
  installHandlers();
  return name;
}

export function disownNetwork(name: string): void {
  ownedNetworks.delete(name);
}

/** Removes an owned network; throws (and keeps it owned, for the exit handler) when Docker refuses. */
export async function removeOwnedNetwork(name: string): Promise<void> {
  detachEveryContainer(name);
  const removed = await run("docker", ["network", "rm", name]);
  if (removed.code !== 0 && !/not found/i.test(removed.stderr)) {
    throw new Error(`docker network rm ${name} failed: ${removed.stderr.trim()}`);
  }
  ownedNetworks.delete(name);
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

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.once("exit", removeOwnedNow);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.once(signal, () => {
      console.error(`[cleanup] ${signal}: removing the harness's containers and networks`);
      removeOwnedNow();
      process.exit(128 + (signal === "SIGINT" ? 2 : signal === "SIGTERM" ? 15 : 1));
    });
  }
}
