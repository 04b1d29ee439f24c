import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Cluster } from "../cluster/index.ts";
import { scratchDir } from "../files.ts";
import { underRegistry } from "../images/registry.ts";
import { run, runOrThrow } from "../process.ts";
import { setting } from "../settings.ts";

const ENTRY = fileURLToPath(new URL("./generator-pod.ts", import.meta.url));
/** Node 24's official Linux build still names these; Debian's glibc keeps them as stubs the workload images drop. */
const GLIBC_STUBS = ["libdl.so.2", "libpthread.so.0"];
const HOST_LIBS = "/lib/x86_64-linux-gnu";

/**
 * The harness's own generator image: the workload image's Debian root (glibc, libstdc++),
 * the Node.js running this process, and the lean generator bundled into one file. Built
 * with `docker create`/`cp`/`commit` (no registry, no Dockerfile base to pull), tagged by a
 * hash of its inputs, and reused while they stay the same.
 */
export function generatorImage(baseImage: string): Promise<string> {
  let image = built.get(baseImage);
  if (!image) {
    image = buildGeneratorImage(baseImage);
    built.set(baseImage, image);
    image.catch(() => built.delete(baseImage));
  }
  return image;
}

/** One build per base image and process (every run of an in-cluster path asks for it). */
const built = new Map<string, Promise<string>>();

async function buildGeneratorImage(baseImage: string): Promise<string> {
  if (process.platform !== "linux" || process.arch !== "x64") {
    throw new Error(
      `in-cluster generators put this machine's Node.js into their image: it must be Linux x64 (this is ${process.platform}/${process.arch}); set VALKEY_BENCH_GENERATORS=none`,
    );
  }
  const dir = scratchDir("generator-image-");
  const bundle = join(dir, "generator.mjs");
  const { build } = await import("rolldown");
  await build({
    input: ENTRY,
    platform: "node",
    logLevel: "silent",
    output: { file: bundle, format: "esm", codeSplitting: false },
  });
  const baseId = (await runOrThrow("docker", ["image", "inspect", "--format", "{{.Id}}", baseImage])).trim();
  const hash = createHash("sha256")
    .update(readFileSync(bundle))
    .update(process.version)
    .update(baseId)
    .digest("hex")
    .slice(0, 12);
  const tag = `localhost/valkey-harness-generator:${hash}`;
  if ((await run("docker", ["image", "inspect", tag])).code === 0) return tag;
  const container = (
    await runOrThrow("docker", ["create", "--label", "org.valkey-harness.managed=true", baseImage])
  ).trim();
  try {
    await runOrThrow("docker", ["cp", process.execPath, `${container}:/bin/node`]);
    await runOrThrow("docker", ["cp", bundle, `${container}:/generator.mjs`]);
    for (const lib of GLIBC_STUBS) {
      if (existsSync(join(HOST_LIBS, lib)))
        await runOrThrow("docker", ["cp", "-L", join(HOST_LIBS, lib), `${container}:${HOST_LIBS}/${lib}`]);
    }
    await runOrThrow("docker", [
      "commit",
      "--change",
      'ENTRYPOINT ["/bin/node", "/generator.mjs"]',
      "--change",
      "CMD []",
      "--change",
      "USER 1000",
      container,
      tag,
    ]);
  } finally {
    await run("docker", ["rm", "-f", container]);
  }
  return tag;
}

/** The generator image as the cluster's pods name it, and whether they may pull it. */
export interface PlacedImage {
  image: string;
  pullPolicy: "Never" | "IfNotPresent";
}

/**
 * Puts the generator image where the cluster's nodes find it: loaded into the nodes of a
 * cluster the harness started; pushed to VALKEY_REGISTRY for a cluster of your own.
 */
export async function placeGeneratorImage(cluster: Cluster, image: string): Promise<PlacedImage> {
  if (cluster.imageLoading) {
    await cluster.imageLoading.load([image]);
    return { image, pullPolicy: "Never" };
  }
  const registry = setting("VALKEY_REGISTRY");
  if (!registry) {
    throw new Error(
      "in-cluster generators need their image where this cluster's nodes can pull it: set VALKEY_REGISTRY to a registry they pull from (the harness pushes the image there), or VALKEY_BENCH_GENERATORS=none",
    );
  }
  const target = underRegistry(image, registry);
  await runOrThrow("docker", ["tag", image, target]);
  await runOrThrow("docker", ["push", "-q", target]);
  return { image: target, pullPolicy: "IfNotPresent" };
}
