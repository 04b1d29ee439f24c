import { createHash } from "node:crypto";
import { accessSync, constants, existsSync, readFileSync } from "node:fs";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";
import { fillOnce } from "../files.ts";
import { sharedByKey } from "../memo.ts";
import { run, runOrThrow } from "../process.ts";
import { cacheDir, setting } from "../settings.ts";

export type HelmChoice = "auto" | "4" | "3" | "path";
export type HelmMajor = "3" | "4";

/**
 * The Go module that pins the Helm releases the harness builds (go.mod names them, go.sum
 * pins every dependency): one module for both majors, so Helm 3 is compiled against the
 * same Kubernetes client libraries as Helm 4 and its build after Helm 4's takes seconds.
 */
export const HELM_MODULE = fileURLToPath(new URL("../../tools/helm/", import.meta.url));

/** The Helm on PATH is used by `auto` when its version is in this range. */
export const SUPPORTED_HELM = "3.17 or later, or 4.x";

/** Helm cannot be had here (no Go to build it, no usable helm on PATH); the message says what to install. */
export class HelmUnavailable extends Error {}

/** The Helm releases tools/helm/go.mod pins, by major. */
export function pinnedHelmVersions(): Record<HelmMajor, string> {
  const goMod = readFileSync(join(HELM_MODULE, "go.mod"), "utf8");
  const versionOf = (major: HelmMajor): string => {
    const found = goMod.match(new RegExp(`^\\s*helm\\.sh/helm/v${major} (v\\S+)`, "m"))?.[1];
    if (!found) throw new Error(`${join(HELM_MODULE, "go.mod")} requires no helm.sh/helm/v${major}`);
    return found;
  };
  return { "4": versionOf("4"), "3": versionOf("3") };
}

/** Whether a version of Helm (v3.17.2, 4.3.2) is one the harness supports when it comes from PATH. */
export function supportedHelmVersion(version: string): boolean {
  const [major, minor] = version.replace(/^v/, "").split(".").map(Number);
  return major === 4 || (major === 3 && (minor ?? 0) >= 17);
}

/** Where the Helm a choice names comes from, found without building anything (for `npm run doctor`). */
export interface HelmPlan {
  /** path: the helm on PATH; built: the pinned build, in the harness's cache; build: the pinned build, made on first use. */
  source: "path" | "built" | "build";
  version: string;
  binary?: string;
  /** Why this source and not another, in a sentence. */
  reason: string;
}

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

  /**
   * `4` or `3`: the pinned release of that major, built from its Go modules on first use
   * (or, without Go, the helm on PATH when it is of that major). `path`: the helm on PATH.
   * `auto`: the helm on PATH when its version is supported, else the pinned Helm 4.
   */
  static resolve(choice: HelmChoice): Promise<Helm> {
    return resolving(choice);
  }

  /** The Helm chosen by VALKEY_HELM (auto when unset). */
  static fromSettings(): Promise<Helm> {
    return Helm.resolve(setting("VALKEY_HELM"));
  }

  /** What `resolve(choice)` would use, without building; throws HelmUnavailable as resolve would. */
  static async plan(choice: HelmChoice): Promise<HelmPlan> {
    const onPath = choice === "3" || choice === "4" ? undefined : await helmOnPath();
    if (choice === "path") {
      if (!onPath)
        throw new HelmUnavailable("VALKEY_HELM=path, and there is no helm on PATH: install Helm, or unset VALKEY_HELM");
      return { source: "path", ...onPath, reason: "VALKEY_HELM=path" };
    }
    if (choice === "auto" && onPath && supportedHelmVersion(onPath.version)) {
      return { source: "path", ...onPath, reason: `the helm on PATH is supported (${SUPPORTED_HELM})` };
    }
    const major: HelmMajor = choice === "3" ? "3" : "4";
    const version = pinnedHelmVersions()[major];
    const why =
      choice === "auto"
        ? onPath
          ? `the helm on PATH (${onPath.version}) is outside ${SUPPORTED_HELM}`
          : "no helm on PATH"
        : `VALKEY_HELM=${choice}`;
    const binary = builtBinary(major);
    if (existsSync(binary)) return { source: "built", version, binary, reason: `${why}; built before from tools/helm` };
    const go = await goVersion();
    if (go) return { source: "build", version, reason: `${why}; built from tools/helm with ${go} on first use` };
    const sameMajor = await helmOnPath();
    if (sameMajor?.version.replace(/^v/, "").startsWith(`${major}.`) && supportedHelmVersion(sameMajor.version)) {
      return {
        source: "path",
        ...sameMajor,
        reason: `${why}; no Go to build ${version}, so the helm on PATH of that major`,
      };
    }
    throw new HelmUnavailable(
      `Helm ${version} is built from its Go modules (${join(HELM_MODULE, "go.mod")}) on first use, and Go is not on PATH: ` +
        `install Go ${requiredGo()} or later, or install Helm ${major === "4" ? "4" : "3.17+"} for this machine and keep it on PATH (${why}).`,
    );
  }

  run(args: readonly string[], options: { timeoutMs?: number; input?: string } = {}): Promise<string> {
    return runOrThrow(this.binary, args, { ...options, env: helmEnv() });
  }

  toString(): string {
    return `helm ${this.version} (${this.binary})`;
  }

  /** @internal */
  static async at(binary: string): Promise<Helm> {
    const version = (await runOrThrow(binary, ["version", "--template", "{{.Version}}"])).trim();
    return new Helm(binary, version);
  }
}

async function resolveUncached(choice: HelmChoice): Promise<Helm> {
  const plan = await Helm.plan(choice);
  if (plan.source !== "build") return Helm.at(plan.binary as string);
  // auto and 4 may both fall to the same build: one per major and process.
  return Helm.at(await building(choice === "3" ? "3" : "4"));
}

/** One resolution per choice and process: concurrent callers share a build. */
const resolving = sharedByKey(resolveUncached);
const building = sharedByKey((major: HelmMajor) => buildHelm(major));

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

/** The helm on PATH and the version it reports, if there is one that runs. */
async function helmOnPath(): Promise<{ binary: string; version: string } | undefined> {
  const binary = onPath("helm");
  if (!binary) return undefined;
  const answer = await run(binary, ["version", "--template", "{{.Version}}"]).catch(() => undefined);
  if (answer?.code !== 0) return undefined;
  return { binary, version: answer.stdout.trim() };
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {}
  }
  return undefined;
}

/** The Go on PATH (go1.26.8), when it can build tools/helm: 1.21 and later fetch the toolchain go.mod names when older. */
async function goVersion(): Promise<string | undefined> {
  if (!onPath("go")) return undefined;
  const answer = await run("go", ["env", "GOVERSION"]).catch(() => undefined);
  const version = answer?.code === 0 ? answer.stdout.trim() : "";
  const [major = 0, minor = 0] = version.replace(/^go/, "").split(".").map(Number);
  return major > 1 || (major === 1 && minor >= 21) ? version : undefined;
}

/** The Go release tools/helm/go.mod asks for (its go line). */
function requiredGo(): string {
  return readFileSync(join(HELM_MODULE, "go.mod"), "utf8").match(/^go (\S+)/m)?.[1] ?? "?";
}

/**
 * `go build`'s arguments for a pinned major, as Helm's own Makefile sets them: the version,
 * and for Helm 3 the Kubernetes version `helm template` assumes (Helm 4 reads it from the
 * client library at run time). Without it Helm 3 assumes v1.20 and refuses charts that
 * require newer.
 */
function buildArguments(major: HelmMajor, output: string): string[] {
  const ldflags = ["-s", "-w", `-X helm.sh/helm/v${major}/internal/version.version=${pinnedHelmVersions()[major]}`];
  if (major === "3") {
    const goMod = readFileSync(join(HELM_MODULE, "go.mod"), "utf8");
    const minor = goMod.match(/^\s*k8s\.io\/client-go v0\.(\d+)\./m)?.[1];
    if (!minor) throw new Error(`${join(HELM_MODULE, "go.mod")} requires no k8s.io/client-go v0.x`);
    for (const pkg of ["pkg/lint/rules", "pkg/chartutil"]) {
      ldflags.push(`-X helm.sh/helm/v3/${pkg}.k8sVersionMajor=1`, `-X helm.sh/helm/v3/${pkg}.k8sVersionMinor=${minor}`);
    }
  }
  return ["build", "-trimpath", "-ldflags", ldflags.join(" "), "-o", output, `helm.sh/helm/v${major}/cmd/helm`];
}

/** The cache entry of a pinned build: a new go.mod, go.sum, build recipe, OS or architecture is a new entry. */
function builtDir(major: HelmMajor): string {
  const inputs = createHash("sha256")
    .update(readFileSync(join(HELM_MODULE, "go.mod")))
    .update(readFileSync(join(HELM_MODULE, "go.sum")))
    .update(JSON.stringify(buildArguments(major, "")))
    .digest("hex")
    .slice(0, 12);
  return join(cacheDir(), "helm", `helm-${pinnedHelmVersions()[major]}-${process.platform}-${process.arch}-${inputs}`);
}

function builtBinary(major: HelmMajor): string {
  return join(builtDir(major), "helm");
}

/** Builds the pinned Helm of a major into the harness's cache (once; concurrent processes may build side by side, one copy lands). */
async function buildHelm(major: HelmMajor): Promise<string> {
  const version = pinnedHelmVersions()[major];
  const target = await fillOnce(
    builtDir(major),
    async (dir) => {
      const started = Date.now();
      const say = (what: string) => process.stderr.write(`[helm] ${what}\n`);
      say(
        `building Helm ${version} for ${process.platform}/${process.arch} from its Go modules (tools/helm): ` +
          "about 2 min on two cores with Go's caches cold, seconds when they are warm",
      );
      const heartbeat = setInterval(
        () => say(`still building Helm ${version}: ${Math.round((Date.now() - started) / 1000)} s`),
        15_000,
      );
      heartbeat.unref();
      try {
        // Static, as the released binaries are (Helm's Makefile: CGO_ENABLED=0).
        await runOrThrow("go", buildArguments(major, join(dir, "helm")), {
          cwd: HELM_MODULE,
          env: { ...process.env, CGO_ENABLED: "0" },
          timeoutMs: 30 * 60_000,
        });
      } catch (error) {
        throw new Error(
          `building Helm ${version} from ${join(HELM_MODULE, "go.mod")} failed: ${(error as Error).message}\n` +
            `It needs Go ${requiredGo()} or later (an older Go fetches that toolchain when GOTOOLCHAIN allows and the proxy answers) and the modules from GOPROXY on the first build; ` +
            "offline, fill Go's module cache on a connected machine (go mod download in tools/helm), or install Helm 3.17+/4.x and keep it on PATH.",
          { cause: error },
        );
      } finally {
        clearInterval(heartbeat);
      }
      say(`built Helm ${version} in ${Math.round((Date.now() - started) / 1000)} s`);
    },
    (dir) => existsSync(join(dir, "helm")),
  );
  return join(target, "helm");
}
