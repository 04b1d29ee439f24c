import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { HARNESS_LABEL, OWNER_PID_LABEL } from "../../src/cluster/cleanup.ts";
import { dockerAnswers } from "../../src/cluster/docker.ts";
import { SCRATCH_PREFIX } from "../../src/files.ts";
import { isCI } from "../../src/settings.ts";

/**
 * Real runs of the suites (a vitest process of their own, with its own cluster) interrupted
 * at moments from image preparation to teardown, by SIGINT or SIGTERM, to the process group
 * (Ctrl-C in a terminal) or to the main process alone (a CI runner's cancel): each must
 * leave no container, network, volume, process or scratch directory behind.
 */
interface Moment {
  name: string;
  /** The line of the run's output after which to interrupt, and how long after it. */
  after: RegExp;
  delayMs: number;
  signal: "SIGINT" | "SIGTERM";
  to: "group" | "main";
  suites: "smoke" | "install";
}

const MOMENTS: Moment[] = [
  { name: "image preparation", after: /\[images\]/, delayMs: 0, signal: "SIGINT", to: "group", suites: "smoke" },
  {
    name: "the cluster's start, containers being created",
    after: /\[cluster\] starting/,
    delayMs: 1_500,
    signal: "SIGINT",
    to: "group",
    suites: "smoke",
  },
  {
    name: "the cluster's start, nodes joining",
    after: /\[cluster\] starting/,
    delayMs: 4_000,
    signal: "SIGTERM",
    to: "main",
    suites: "smoke",
  },
  {
    name: "helm install",
    after: /\[install dev-01\] fit:/,
    delayMs: 3_000,
    signal: "SIGINT",
    to: "main",
    suites: "install",
  },
  {
    name: "the checks of an installed release",
    after: /\[install dev-01\] .* installed upstream/,
    delayMs: 2_000,
    signal: "SIGTERM",
    to: "group",
    suites: "install",
  },
  {
    name: "the cluster's teardown",
    after: /\[cluster\] removing/,
    delayMs: 0,
    signal: "SIGINT",
    to: "group",
    suites: "smoke",
  },
];

const SUITES = {
  smoke: ["--project", "cluster", "tests/cluster/smoke.test.ts"],
  install: ["--project", "install", "tests/install/environments.test.ts"],
};

function lines(command: string, args: string[]): string[] {
  const result = spawnSync(command, args, { encoding: "utf8" });
  return (result.stdout ?? "").trim().split("\n").filter(Boolean);
}

const danglingVolumes = () => new Set(lines("docker", ["volume", "ls", "-qf", "dangling=true"]));
const scratchDirsSince = (since: number) =>
  readdirSync(tmpdir())
    .filter((name) => name.startsWith(SCRATCH_PREFIX))
    .map((name) => join(tmpdir(), name))
    .filter((path) => {
      try {
        return statSync(path).ctimeMs >= since;
      } catch {
        return false;
      }
    });

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

async function interruptedRun(moment: Moment): Promise<{ output: string; child: ChildProcess; code: number | null }> {
  const child = spawn(
    process.execPath,
    ["node_modules/vitest/vitest.mjs", "run", "--reporter=default", ...SUITES[moment.suites]],
    { detached: true, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, VALKEY_ENVS: "dev-01" } },
  );
  let output = "";
  let interrupted = false;
  const watch = (chunk: Buffer) => {
    output += chunk.toString();
    if (interrupted || !moment.after.test(output)) return;
    interrupted = true;
    setTimeout(() => {
      output += `\n--- ${moment.signal} to the ${moment.to === "group" ? "process group" : "main process"}\n`;
      try {
        process.kill(moment.to === "group" ? -(child.pid as number) : (child.pid as number), moment.signal);
      } catch {
        output += "(the run had already ended)\n";
      }
    }, moment.delayMs);
  };
  child.stdout?.on("data", watch);
  child.stderr?.on("data", watch);
  const code = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => {
      output += "\n--- the run was not interrupted within 10 minutes: killed";
      process.kill(-(child.pid as number), "SIGKILL");
    }, 600_000);
    child.on("close", (exitCode) => {
      clearTimeout(timer);
      resolve(exitCode);
    });
  });
  expect(interrupted, `the run never printed ${moment.after}:\n${output.slice(-3000)}`).toBe(true);
  return { output, child, code };
}

const docker = await dockerAnswers();
if (!docker && !isCI()) console.warn("SKIPPED: the interrupt suite needs a Docker engine");

describe.skipIf(!docker && !isCI())("an interrupted run leaves nothing behind", () => {
  for (const moment of MOMENTS) {
    test(`${moment.signal} to the ${moment.to === "group" ? "process group" : "main process"} during ${moment.name}`, async () => {
      const started = Date.now();
      const volumesBefore = danglingVolumes();
      const { output, child, code } = await interruptedRun(moment);
      const pid = child.pid as number;
      // Children ended by the run's exit (helm, docker, workers) get a moment to go.
      for (const deadline = Date.now() + 15_000; groupAlive(pid) && Date.now() < deadline; )
        await new Promise((resolve) => setTimeout(resolve, 250));
      const tail = `\nthe run's last output:\n${output.split("\n").slice(-25).join("\n")}`;
      const owned = ["--filter", `label=${HARNESS_LABEL}=true`, "--filter", `label=${OWNER_PID_LABEL}=${pid}`];
      expect(code, `exit code${tail}`).not.toBe(0);
      expect(
        groupAlive(pid),
        `processes of the run still running: ${lines("ps", ["-o", "pid,args", "-g", String(pid)]).join("; ")}${tail}`,
      ).toBe(false);
      expect(lines("docker", ["ps", "-a", "--format", "{{.Names}}", ...owned]), `containers left${tail}`).toEqual([]);
      expect(lines("docker", ["network", "ls", "--format", "{{.Name}}", ...owned]), `networks left${tail}`).toEqual([]);
      const newVolumes = [...danglingVolumes()].filter((volume) => !volumesBefore.has(volume));
      expect(newVolumes, `volumes left${tail}`).toEqual([]);
      expect(scratchDirsSince(started), `scratch directories left${tail}`).toEqual([]);
    });
  }
});
