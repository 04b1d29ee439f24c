import { spawnSync } from "node:child_process";
import { run, runOrThrow } from "../process.ts";

/** Every container, volume and network the harness creates carries these labels. */
export const HARNESS_LABEL = "org.valkey-harness.managed";
export const OWNER_PID_LABEL = "org.valkey-harness.pid";

export function harnessLabels(): Record<string, string> {
  return { [HARNESS_LABEL]: "true", [OWNER_PID_LABEL]: String(process.pid) };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Removes what earlier runs left behind: containers whose owning process is gone. */
export async function reapLeftovers(log: (line: string) => void = console.log): Promise<void> {
  const listed = await run("docker", [
    "ps",
    "-a",
    "--filter",
    `label=${HARNESS_LABEL}=true`,
    "--format",
    `{{.ID}} {{.Label "${OWNER_PID_LABEL}"}}`,
  ]);
  const orphans = listed.stdout
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((line) => line.split(" "))
    .filter(([, pid]) => !pid || !alive(Number(pid)))
    .map(([id]) => id as string);
  if (orphans.length > 0) {
    log(`[cluster] removing ${orphans.length} container(s) left by an earlier run: ${orphans.join(" ")}`);
    await run("docker", ["rm", "-f", "-v", ...orphans]);
  }
  const networks = await run("docker", ["network", "ls", "-q", "--filter", `label=${HARNESS_LABEL}=true`]);
  for (const id of networks.stdout.trim().split("\n").filter(Boolean)) {
    await run("docker", ["network", "rm", id]); // fails harmlessly while a live run uses it
  }
  await run("docker", ["volume", "prune", "-f", "--filter", `label=${HARNESS_LABEL}=true`]);
}

const owned = new Set<string>();
const ownedNetworks = new Set<string>();
let handlersInstalled = false;

/** Removes the process's containers and networks synchronously: the last resort on exit and signals. */
function removeOwnedNow(): void {
  if (owned.size > 0) spawnSync("docker", ["rm", "-f", "-v", ...owned], { stdio: "ignore" });
  if (ownedNetworks.size > 0) spawnSync("docker", ["network", "rm", ...ownedNetworks], { stdio: "ignore" });
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

/** Creates a labelled Docker network, removed with the process's containers if the run ends early. */
export async function createOwnedNetwork(name: string): Promise<string> {
  const labels = Object.entries(harnessLabels()).flatMap(([k, v]) => ["--label", `${k}=${v}`]);
  await runOrThrow("docker", ["network", "create", ...labels, name]);
  ownedNetworks.add(name);
  installHandlers();
  return name;
}

export async function removeOwnedNetwork(name: string): Promise<void> {
  await run("docker", ["network", "rm", name]);
  ownedNetworks.delete(name);
}

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.once("exit", removeOwnedNow);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.once(signal, () => {
      console.error(`[cluster] ${signal}: removing the harness's containers`);
      removeOwnedNow();
      process.exit(128 + (signal === "SIGINT" ? 2 : signal === "SIGTERM" ? 15 : 1));
    });
  }
}

export function disownContainer(id: string): void {
  owned.delete(id);
}
