import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { harnessLabels } from "../cluster/cleanup.ts";
import type { Cluster } from "../cluster/index.ts";
import { onProcessEnd } from "../exit.ts";
import { scratchDir } from "../files.ts";
import { underRegistry } from "../images/registry.ts";
import { sharedByKey } from "../memo.ts";
import { run, runOrThrow } from "../process.ts";
import { setting } from "../settings.ts";

const ENTRY = fileURLToPath(new URL("./generator-pod.ts", import.meta.url));
/** Node 24's official Linux build still names these; Debian's glibc keeps them as stubs the workload images drop. */
const GLIBC_STUBS = ["libdl.so.2", "libpthread.so.0"];
const HOST_LIBS = "/lib/x86_64-linux-gnu";
/** How the image is committed (part of its tag's hash). */
const RECIPE = ['ENTRYPOINT ["/bin/node", "/generator.mjs"]', "CMD []", "USER 1000"];

/**
 * The harness's own generator image: the workload image's Debian root (glibc, libstdc++),
 * the Node.js running this process, and the lean generator bundled into one file. Built
 * with `docker create`/`cp`/`commit` (no registry, no Dockerfile base to pull), tagged by a
 * hash of its inputs, and reused while they stay the same.
 */
export function generatorImage(baseImage: string): Promise<string> {
  return built(baseImage);
}

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
  // Images from a registry (VALKEY_REGISTRY, public) are in the cluster's nodes, not always in this Docker.
  if ((await run("docker", ["image", "inspect", baseImage])).code !== 0)
    await runOrThrow("docker", ["pull", "-q", baseImage]);
  const baseId = (await runOrThrow("docker", ["image", "inspect", "--format", "{{.Id}}", baseImage])).trim();
  const hash = createHash("sha256")
    .update(readFileSync(bundle))
    .update(process.version)
    .update(baseId)
    .update(JSON.stringify({ RECIPE, GLIBC_STUBS }))
    .digest("hex")
    .slice(0, 12);
  const tag = `localhost/valkey-harness-generator:${hash}`;
  if ((await run("docker", ["image", "inspect", tag])).code === 0) return tag;
  const labels = Object.entries(harnessLabels()).flatMap(([key, value]) => ["--label", `${key}=${value}`]);
  const container = (await runOrThrow("docker", ["create", ...labels, baseImage])).trim();
  const remove = () => run("docker", ["rm", "-f", container]).then(() => {});
  onProcessEnd("the generator image's build container", () => {
    void remove();
  });
  try {
    await runOrThrow("docker", ["cp", process.execPath, `${container}:/bin/node`]);
    await runOrThrow("docker", ["cp", bundle, `${container}:/generator.mjs`]);
    for (const lib of GLIBC_STUBS) {
      if (existsSync(join(HOST_LIBS, lib)))
        await runOrThrow("docker", ["cp", "-L", join(HOST_LIBS, lib), `${container}:${HOST_LIBS}/${lib}`]);
    }
    await runOrThrow("docker", ["commit", ...RECIPE.flatMap((change) => ["--change", change]), container, tag]);
  } finally {
    await remove();
  }
  // A Node that cannot start in the image (a distribution's build linked to libraries the
  // image lacks) fails here, not as a crash loop in the pods.
  const smoke = await run("docker", ["run", "--rm", "--network", "none", "--entrypoint", "/bin/node", tag, "-e", "0"]);
  if (smoke.code !== 0) {
    await run("docker", ["rmi", tag]);
    throw new Error(
      `this Node.js (${process.execPath}) does not start in the generator image: ${smoke.stderr.trim().split("\n")[0]}; use the official Linux x64 build, or set VALKEY_BENCH_GENERATORS=none`,
    );
  }
  return tag;
}

/** The generator image as the cluster's pods name it, and whether they may pull it. */
export interface PlacedImage {
  image: string;
  pullPolicy: "Never" | "IfNotPresent";
}

/** Pulls an image onto every node the generators may run on (one short pod per node). */
export type PrePull = (image: PlacedImage) => Promise<void>;

/**
 * Puts the generator image where the cluster's nodes find it: loaded into the nodes of a
 * cluster the harness started; pushed to VALKEY_REGISTRY for a cluster of your own.
 */
export function placeGeneratorImage(cluster: Cluster, image: string, prePull: PrePull): Promise<PlacedImage> {
  return placements({ cluster, image, prePull });
}

async function place(cluster: Cluster, image: string, prePull: PrePull): Promise<PlacedImage> {
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
  await run("docker", ["rmi", target]);
  const placed: PlacedImage = { image: target, pullPolicy: "IfNotPresent" };
  // Pulled once onto every node before any run: a run's common start then waits for no pull.
  await prePull(placed);
  return placed;
}

/** One build per base image and process (every run of an in-cluster path asks for it). */
const built = sharedByKey(buildGeneratorImage);

/** Once per cluster and image in a process (every run of every in-cluster path asks). */
const placements = sharedByKey(
  ({ cluster, image, prePull }: { cluster: Cluster; image: string; prePull: PrePull }) =>
    place(cluster, image, prePull),
  ({ cluster, image }) => `${cluster.kubeconfigPath} ${image}`,
);
