import { run, runOrThrow } from "../process.ts";

/** The host port on 127.0.0.1 that a container publishes for each of `containerPorts`. */
export async function publishedPorts(
  containerId: string,
  containerPorts: readonly number[],
): Promise<Record<number, number>> {
  const ports = JSON.parse(
    await runOrThrow("docker", ["inspect", "--format", "{{json .NetworkSettings.Ports}}", containerId]),
  ) as Record<string, { HostIp: string; HostPort: string }[] | null>;
  return Object.fromEntries(
    containerPorts.map((port) => {
      const binding = ports[`${port}/tcp`]?.find((b) => b.HostIp === "127.0.0.1" || b.HostIp === "0.0.0.0");
      if (!binding) throw new Error(`port ${port} of container ${containerId.slice(0, 12)} is not published`);
      return [port, Number(binding.HostPort)];
    }),
  );
}

/**
 * Imports local Docker images into the containerd of each node container (what
 * `k3s ctr images import` does), skipping those a node has already.
 */
export async function loadImagesIntoNodes(containerIds: readonly string[], images: readonly string[]): Promise<void> {
  await Promise.all(
    containerIds.map(async (id) => {
      const present = await runOrThrow("docker", ["exec", id, "ctr", "-n", "k8s.io", "images", "ls", "-q"]);
      const missing = images.filter((image) => !present.split("\n").includes(image));
      if (missing.length === 0) return;
      const script = `docker save ${missing.map((i) => `'${i}'`).join(" ")} | docker exec -i ${id} ctr -n k8s.io images import -`;
      await runOrThrow("bash", ["-o", "pipefail", "-c", script]);
    }),
  );
}

/** Runs a command in a container and returns its output; throws with the output when it fails. */
export function dockerExec(containerId: string, command: readonly string[]): Promise<string> {
  return runOrThrow("docker", ["exec", containerId, ...command]);
}

/** Whether a Docker engine answers. */
export async function dockerAnswers(): Promise<boolean> {
  const info = await run("docker", ["info", "--format", "{{.ServerVersion}}"]).catch(() => undefined);
  return info?.code === 0;
}

/** Resident memory of every process in a container, in MiB. */
export async function containerMemoryMiB(containerId: string): Promise<number> {
  const rss = await dockerExec(containerId, ["ps", "-e", "-o", "rss="]);
  return rss.split("\n").reduce((sum, line) => sum + (Number(line.trim()) || 0), 0) / 1024;
}
