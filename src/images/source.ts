import { setting } from "../settings.ts";
import {
  builtImages,
  ensureImages,
  type ImageSet,
  ImagesUnavailable,
  kubernetesVersionOfInputs,
  missingBuildTools,
} from "./index.ts";
import { imagesFromRegistry } from "./registry.ts";

/** Where the cluster's node image and the workload images come from, and why. */
export interface ImageChoice {
  source: "offline" | "registry";
  /** The node image the cluster runs. */
  node: string;
  /** The harness's images (offline, or from VALKEY_REGISTRY); undefined: the chart pulls its own upstream images. */
  set?: ImageSet;
  /** One line for the log and the reports: what was chosen and why. */
  reason: string;
}

/** What the choice looks at; tests replace it. */
export interface ImageProbes {
  built: () => Promise<ImageSet | undefined>;
  missingTools: () => Promise<string[]>;
  publicRegistryAnswers: () => Promise<boolean>;
  build: () => Promise<ImageSet>;
  fromRegistry: (registry: string) => Promise<ImageSet>;
}

/** Whether Docker Hub answers at all (any HTTP status counts), within 5 s. */
export async function dockerHubAnswers(): Promise<boolean> {
  const answer = await fetch("https://registry-1.docker.io/v2/", { signal: AbortSignal.timeout(5000) }).catch(
    () => undefined,
  );
  return answer !== undefined;
}

export const HOST_PROBES: ImageProbes = {
  built: builtImages,
  missingTools: missingBuildTools,
  publicRegistryAnswers: dockerHubAnswers,
  build: () => ensureImages(),
  fromRegistry: imagesFromRegistry,
};

/** rancher/k3s of the Kubernetes version the offline node image is built for. */
export function upstreamNodeImage(): string {
  return `rancher/k3s:${kubernetesVersionOfInputs()}-k3s1`;
}

/**
 * Picks the images by VALKEY_IMAGES (auto, offline, registry) and VALKEY_REGISTRY:
 * the offline images when built or buildable here; otherwise the registry: the one
 * VALKEY_REGISTRY names (holding the harness's images under their own names), else the
 * public registries (rancher/k3s and the chart's own images) when Docker Hub answers;
 * otherwise an error naming both ways out. `allowBuild: false` never starts a build
 * (a node image was given explicitly).
 */
export async function chooseImages(probes: ImageProbes = HOST_PROBES, allowBuild = true): Promise<ImageChoice> {
  const mode = setting("VALKEY_IMAGES");
  const registry = setting("VALKEY_REGISTRY");
  if (mode !== "registry") {
    const built = await probes.built();
    if (built)
      return { source: "offline", node: built.node, set: built, reason: `offline images ${built.inputs} are built` };
    const missing = await probes.missingTools();
    if (allowBuild && (missing.length === 0 || mode === "offline")) {
      if (missing.length > 0) throw ImagesUnavailable.missingTools(missing);
      const set = await probes.build();
      return {
        source: "offline",
        node: set.node,
        set,
        reason: "offline images built here (go, gcc, debootstrap found)",
      };
    }
    if (mode === "offline") throw ImagesUnavailable.missingTools(missing);
    const why = allowBuild
      ? `the offline images are not built and ${missing.join(", ")} not found`
      : "no offline images built";
    return fromRegistry(probes, registry, why);
  }
  return fromRegistry(probes, registry, "VALKEY_IMAGES=registry");
}

async function fromRegistry(probes: ImageProbes, registry: string | undefined, why: string): Promise<ImageChoice> {
  if (registry) {
    const set = await probes.fromRegistry(registry);
    return {
      source: "registry",
      node: set.node,
      set,
      reason: `${why}: the harness's images from ${registry} (VALKEY_REGISTRY)`,
    };
  }
  if (await probes.publicRegistryAnswers()) {
    const node = upstreamNodeImage();
    return {
      source: "registry",
      node,
      reason: `${why}: ${node} and the chart's own images from their public registries`,
    };
  }
  throw new ImagesUnavailable(
    `No images for the cluster: ${why}, VALKEY_REGISTRY is unset and Docker Hub does not answer. Either build the offline images (install Go, gcc and debootstrap, then npm run images), or point VALKEY_REGISTRY at a registry holding them (npm run registry -- up on a machine that built them), or connect to the internet (rancher/k3s and the upstream images).`,
  );
}
