import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { listFiles, withLock } from "../files.ts";
import { run, runOrThrow } from "../process.ts";
import { cacheDir, setting } from "../settings.ts";

export const IMAGE_INPUTS = fileURLToPath(new URL("../../fixtures/images/", import.meta.url));

/** The offline images of one build, and what is inside them. */
export interface ImageSet {
  inputs: string;
  /** The Kubernetes release of the node image (fixtures/images/releases/). */
  release?: string;
  /** Kubernetes node image that speaks k3s's command line. */
  node: string;
  valkey: string;
  exporter: string;
  /** busybox image for test pods and local-path's helper pods. */
  helper: string;
  /** Prometheus server and promtool (loaded into the server node when a suite deploys Prometheus). */
  prometheus: string;
  /** A plain-HTTP registry (crane) for `npm run registry`; absent from sets pulled from a registry. */
  registry?: string;
  /** pause, CoreDNS, local-path-provisioner: inside the node image, or in the registry the nodes pull from. */
  system?: string[];
  /** The registry every node pulls these images from (VALKEY_REGISTRY); unset: imported from the node image. */
  pulledFrom?: string;
  versions: Record<string, string>;
}

/** A NAME=value line of a file of fixtures/images (components.env, releases/<release>.env). */
export function envValue(file: string, name: string): string {
  const path = join(IMAGE_INPUTS, file);
  const value = new RegExp(`^${name}=(\\S+)$`, "m").exec(readFileSync(path, "utf8"))?.[1];
  if (!value) throw new Error(`${path} sets no ${name}`);
  return value;
}

/** The Kubernetes release the cluster runs: VALKEY_KUBERNETES_VERSION, else components.env's. */
export function kubernetesRelease(): string {
  return setting("VALKEY_KUBERNETES_VERSION") ?? envValue("components.env", "KUBERNETES_RELEASE");
}

/** The Kubernetes version a release pins (fixtures/images/releases/<release>.env), e.g. v1.34.4. */
export function kubernetesVersionOfInputs(release = kubernetesRelease()): string {
  return envValue(join("releases", `${release}.env`), "KUBERNETES_VERSION");
}

/** Hash of every pinned input (Go modules, Debian suites, node files): the images' cache key. */
export function inputHash(): string {
  const hash = createHash("sha256");
  for (const file of listFiles(IMAGE_INPUTS)) {
    hash.update(relative(IMAGE_INPUTS, file));
    hash.update("\0");
    hash.update(readFileSync(file));
    hash.update(statSync(file).mode & 0o111 ? "x" : "-");
  }
  return hash.digest("hex").slice(0, 12);
}

/** Where the build of one Kubernetes release of the current inputs keeps its manifest. */
export function imagesDir(hash = inputHash(), release = kubernetesRelease()): string {
  return join(cacheDir(), "images", hash, release);
}

async function dockerHasImage(image: string): Promise<boolean> {
  return (await run("docker", ["image", "inspect", image])).code === 0;
}

/** Every image of a build: the node first, then the workloads, the system images and the registry. */
export function everyImageOf(set: ImageSet): string[] {
  return [
    set.node,
    set.valkey,
    set.exporter,
    set.helper,
    set.prometheus,
    ...(set.system ?? []),
    ...(set.registry ? [set.registry] : []),
  ];
}

/** The image set already built for the current inputs and a Kubernetes release, or undefined. */
export async function builtImages(release = kubernetesRelease()): Promise<ImageSet | undefined> {
  const manifest = join(imagesDir(inputHash(), release), "manifest.json");
  if (!existsSync(manifest)) return undefined;
  const set = JSON.parse(readFileSync(manifest, "utf8")) as ImageSet;
  for (const image of everyImageOf(set)) {
    if (!(await dockerHasImage(image))) return undefined;
  }
  return set;
}

/** Removes the outputs and node images of builds from other inputs (they are large). */
async function pruneOtherBuilds(current: string, log: (line: string) => void): Promise<void> {
  const root = join(cacheDir(), "images");
  for (const entry of readdirSync(root)) {
    if (entry === current || entry === "rootfs" || !/^[0-9a-f]{12}$/.test(entry)) continue;
    // A build keeps one manifest per Kubernetes release (older builds: one at the top).
    const manifests = [
      join(root, entry, "manifest.json"),
      ...readdirSync(join(root, entry)).map((release) => join(root, entry, release, "manifest.json")),
    ];
    for (const manifest of manifests.filter(existsSync)) {
      const { node } = JSON.parse(readFileSync(manifest, "utf8")) as ImageSet;
      await run("docker", ["rmi", node]);
    }
    rmSync(join(root, entry), { recursive: true, force: true });
    log(`[images] removed the build of earlier inputs ${entry}`);
  }
}

/** No images for the cluster: the offline ones cannot be built here and no registry serves them. A laptop run may skip for it. */
export class ImagesUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ImagesUnavailable";
  }

  static missingTools(missing: string[]): ImagesUnavailable {
    return new ImagesUnavailable(
      `The offline images are not built and this machine lacks ${missing.join(", ")} to build them (npm run images). Install them, point VALKEY_REGISTRY at a registry holding the images, set VALKEY_IMAGES=registry on a connected machine (rancher/k3s and the chart's own images), or point VALKEY_KUBECONFIG at a cluster of yours.`,
    );
  }
}

/** The build tools `npm run images` needs that are not on PATH. */
export async function missingBuildTools(): Promise<string[]> {
  const missing: string[] = [];
  for (const tool of ["go", "gcc", "debootstrap"]) {
    if ((await run("sh", ["-c", `command -v ${tool}`])).code !== 0) missing.push(tool);
  }
  // debootstrap makes the node image's Debian root as root: a build without it cannot succeed.
  if (process.getuid?.() !== 0) missing.push("root (debootstrap needs it: sudo npm run images)");
  return missing;
}

/**
 * Builds the node and workload images unless the current inputs were built already.
 * Needs a Docker engine, Go, gcc and debootstrap (.ci/run installs them).
 */
export async function ensureImages(
  log: (line: string) => void = console.log,
  release = kubernetesRelease(),
): Promise<ImageSet> {
  const existing = await builtImages(release);
  if (existing) {
    log(`[images] up to date: ${existing.node} (inputs ${existing.inputs})`);
    return existing;
  }
  const missing = await missingBuildTools();
  if (missing.length > 0) throw ImagesUnavailable.missingTools(missing);
  // One build at a time per cache: a second process waits for the first and uses its images.
  return withLock(
    join(cacheDir(), "images", ".build.lock"),
    async () => {
      const builtMeanwhile = await builtImages(release);
      if (builtMeanwhile) return builtMeanwhile;
      const hash = inputHash();
      const out = imagesDir(hash, release);
      log(`[images] building inputs ${hash}, Kubernetes ${release}, into ${out}`);
      await runOrThrow("bash", [join(IMAGE_INPUTS, "build.sh")], {
        echo: true,
        env: {
          ...process.env,
          OUT: out,
          INPUT_HASH: hash,
          KUBERNETES_RELEASE: release,
          ROOTFS_DIR: join(cacheDir(), "images", "rootfs"),
        },
      });
      await pruneOtherBuilds(hash, log);
      const built = await builtImages(release);
      if (!built) throw new Error(`the image build finished but ${out}/manifest.json names missing images`);
      return built;
    },
    (holder) => log(`[images] another process (pid ${holder}) is building the images: waiting for it`),
  );
}
