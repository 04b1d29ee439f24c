/** npm run images: builds the offline images unless the current inputs were built already. */
import { copyFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { exitOnSignals } from "../exit.ts";
import { ensureImages, everyImageOf, type ImageSet, imagesDir, inputHash, kubernetesRelease } from "../images/index.ts";
import { runOrThrow } from "../process.ts";
import { setting } from "../settings.ts";
import { type CommandSpec, fail, parseCommandLine, runMain } from "./args.ts";

const spec: CommandSpec = {
  invocation: "npm run images --",
  description:
    "Builds the offline node, Valkey, exporter, helper and Prometheus images from the pinned inputs in fixtures/images/ (Go modules, Debian packages), unless images of the current inputs exist: one node image per Kubernetes release of VALKEY_KUBERNETES_VERSIONS (default: the cluster's, VALKEY_KUBERNETES_VERSION). Needs a Docker engine, Go, gcc and debootstrap.",
  options: {
    import: {
      value: "FILE",
      description:
        "first load images exported earlier (a CI cache): used when they were built from the current inputs, else ignored with a line saying so",
    },
    export: {
      value: "FILE",
      description: "then save the image set to FILE (docker save) and its manifest to FILE.json",
    },
  },
  epilogue: [
    "GitHub Actions keeps the export in its cache, keyed by the hash of fixtures/images/ (ci.yml). --import/--export hold the cluster's release.",
    "example: VALKEY_KUBERNETES_VERSIONS=all npm run images   (node images for every release of fixtures/images/releases/)",
  ],
};

const { options } = parseCommandLine(spec);
for (const name of ["import", "export"]) {
  if (options[name] !== undefined && typeof options[name] !== "string") fail(spec, `--${name} needs a file`);
}
// A signal ends the process at once (src/exit.ts); ending stops the build in progress
// (src/process.ts), and build.sh stops what it started.
exitOnSignals();
runMain(async () => {
  const started = performance.now();
  const imported = options.import as string | undefined;
  if (imported && existsSync(imported) && existsSync(`${imported}.json`)) {
    const set = JSON.parse(readFileSync(`${imported}.json`, "utf8")) as ImageSet;
    if (set.inputs === inputHash()) {
      await runOrThrow("docker", ["load", "-q", "-i", imported]);
      mkdirSync(imagesDir(), { recursive: true });
      copyFileSync(`${imported}.json`, join(imagesDir(), "manifest.json"));
      console.log(`[images] loaded ${imported} (inputs ${set.inputs})`);
    } else {
      console.log(`[images] ${imported} holds inputs ${set.inputs}, not the current ${inputHash()}: building instead`);
    }
  } else if (imported) {
    console.log(`[images] nothing to import at ${imported}: building`);
  }
  const images = await ensureImages();
  console.log(JSON.stringify(images, null, 2));
  const releases = setting("VALKEY_KUBERNETES_VERSIONS") ?? [kubernetesRelease()];
  for (const release of releases.filter((r) => r !== kubernetesRelease())) {
    const other = await ensureImages(console.log, release);
    console.log(`[images] Kubernetes ${release}: ${other.node}`);
  }
  const exported = options.export as string | undefined;
  if (exported) {
    const all = everyImageOf(images);
    await runOrThrow("docker", ["save", "-o", exported, ...all]);
    copyFileSync(join(imagesDir(), "manifest.json"), `${exported}.json`);
    console.log(`[images] saved ${all.length} images to ${exported}`);
  }
  console.log(`[images] ready in ${((performance.now() - started) / 1000).toFixed(1)} s`);
});
