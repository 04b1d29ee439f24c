import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";
import { HELM_MODULE, Helm, pinnedHelmVersions, supportedHelmVersion } from "../../src/chart/helm.ts";
import { scratchDir } from "../../src/files.ts";
import { run } from "../../src/process.ts";

const cli = fileURLToPath(new URL("../../src/cli/helm.ts", import.meta.url));

/** `npm run helm` in a process whose PATH holds node and, when given, a `helm` linked to a real build. */
async function resolveWith(choice: string, helmOnPath?: string) {
  const bin = scratchDir("helm-path-");
  symlinkSync(process.execPath, join(bin, "node"));
  if (helmOnPath) symlinkSync(helmOnPath, join(bin, "helm"));
  // An empty harness cache: nothing built before, and no Go on PATH to build with.
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: bin, VALKEY_HARNESS_CACHE: scratchDir("helm-cache-") };
  delete env.VALKEY_HELM;
  const result = await run(process.execPath, [cli, "--choices", choice], { env });
  return { ...result, bin };
}

describe("the Helm the harness runs", () => {
  test("Helm 4 and 3 are built from tools/helm and report the versions its go.mod pins", async () => {
    const pinned = pinnedHelmVersions();
    expect(pinned["4"]).toMatch(/^v4\.\d+\.\d+$/);
    expect(pinned["3"]).toMatch(/^v3\.\d+\.\d+$/);
    const [helm4, helm3] = await Promise.all([Helm.resolve("4"), Helm.resolve("3")]);
    expect(helm4.version).toBe(pinned["4"]);
    expect(helm3.version).toBe(pinned["3"]);
  }, 600_000);

  test("Helm 3 assumes the Kubernetes release of the client libraries it is built with, as its Makefile stamps it (not v1.20)", async () => {
    const goMod = readFileSync(join(HELM_MODULE, "go.mod"), "utf8");
    const minor = goMod.match(/^\s*k8s\.io\/client-go v0\.(\d+)\./m)?.[1];
    const chart = scratchDir("kube-version-");
    writeFileSync(join(chart, "Chart.yaml"), "apiVersion: v2\nname: kube-version\nversion: 0.1.0\n");
    mkdirSync(join(chart, "templates"));
    writeFileSync(
      join(chart, "templates", "cm.yaml"),
      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kube\ndata:\n  version: {{ .Capabilities.KubeVersion.Version | quote }}\n",
    );
    for (const major of ["3", "4"] as const) {
      const rendered = await (await Helm.resolve(major)).run(["template", "kube-version", chart]);
      expect(rendered, `Helm ${major}`).toContain(`version: "v1.${minor}.0"`);
    }
  }, 600_000);

  test("a helm on PATH is supported from 3.17 and in 4.x", () => {
    expect(
      ["v2.17.0", "v3.16.4", "v3.17.0", "v3.21.4", "v4.0.0", "v4.3.2", "v5.0.0"].map(supportedHelmVersion),
    ).toEqual([false, false, true, true, true, true, false]);
  });

  test("auto takes a supported helm on PATH", async () => {
    const helm3 = await Helm.resolve("3");
    const result = await resolveWith("auto", helm3.binary);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe(`auto\t${helm3.version}\t${join(result.bin, "helm")}\n`);
  }, 600_000);

  test("without Go, a pinned major comes from PATH only when the helm there is of that major", async () => {
    const helm4 = await Helm.resolve("4");
    const four = await resolveWith("4", helm4.binary);
    expect(four.code, four.stderr).toBe(0);
    expect(four.stdout).toContain(`\t${helm4.version}\t${join(four.bin, "helm")}`);
    const three = await resolveWith("3", helm4.binary);
    expect(three.code).toBe(1);
    expect(three.stderr).toMatch(
      /Helm v3\.\S+ is built from its Go modules \(.*tools\/helm\/go\.mod\).*Go is not on PATH/,
    );
    expect(three.stderr).toMatch(/install Go 1\.26(\.0)? or later, or install Helm 3\.17\+/);
  }, 600_000);

  test("with neither Go nor helm, auto fails naming what to install", async () => {
    const result = await resolveWith("auto");
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /Helm v4\.\S+ is built from its Go modules.*install Go 1\.26(\.0)? or later.*\(no helm on PATH\)/,
    );
  }, 600_000);
});
