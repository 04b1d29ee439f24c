import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";
import { Helm } from "../../src/chart/helm.ts";
import { elfArchitecture, nodeFinding, resourceFindings } from "../../src/doctor.ts";
import { run } from "../../src/process.ts";

const GiB = 2 ** 30;
const doctor = fileURLToPath(new URL("../../src/cli/doctor.ts", import.meta.url));

describe("npm run doctor", () => {
  test("fails with the fix when the Docker engine does not answer", async () => {
    const result = await run(process.execPath, [doctor], {
      env: { ...process.env, DOCKER_HOST: "unix:///nonexistent/docker.sock" },
    });
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/FAIL {2}Docker engine +not reachable/);
    expect(result.stdout).toMatch(/fix: start Docker/);
    expect(result.stdout).toMatch(/cannot run the suites yet: Docker engine/);
  });

  test.runIf(process.platform === "linux")("reads a binary's architecture from its ELF header", async () => {
    const helm = await Helm.fromSettings();
    expect(elfArchitecture(readFileSync(helm.binary).subarray(0, 20))).toBe(process.arch);
    expect(elfArchitecture(Buffer.from("#!/bin/sh\necho helm v4\n"))).toBe("not a Linux (ELF) binary");
  });

  test("refuses a Node.js older than 22.22, with the fix", () => {
    expect(nodeFinding("22.21.0")).toMatchObject({ status: "fail", fix: expect.stringContaining("Node 24") });
    expect(nodeFinding("24.0.0").status).toBe("ok");
  });

  test("counts the image build into the disk a run needs, and names the shortfall", () => {
    const disk = [{ path: "/cache", free: 12 * GiB }];
    const memory = { total: 16 * GiB, free: 8 * GiB };
    expect(resourceFindings(disk, memory, 2, false)[0]?.status).toBe("ok");
    expect(resourceFindings(disk, memory, 2, true)[0]).toMatchObject({
      status: "fail",
      detail: "12.0 GiB free, a run needs 25.0 GiB with the image build",
    });
    expect(resourceFindings(disk, { total: 4 * GiB, free: GiB }, 1, false).map((f) => f.status)).toEqual([
      "ok",
      "warn",
      "warn",
    ]);
  });
});
