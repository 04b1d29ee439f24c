import { spawn } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { scratchDir } from "../../src/files.ts";
import { kubernetesRelease } from "../../src/images/index.ts";
import { clusterUnavailable } from "../support/fixtures.ts";

/** A kubeconfig whose API server nothing answers: every suite run against it fails at once. */
const UNREACHABLE = `apiVersion: v1
kind: Config
clusters: [{ name: none, cluster: { server: "https://127.0.0.1:1", insecure-skip-tls-verify: true } }]
users: [{ name: none, user: { token: none } }]
contexts: [{ name: none, context: { cluster: none, user: none } }]
current-context: none
`;

describe.skipIf(!!clusterUnavailable)("the commands' exit status", () => {
  test("npm run test:kubernetes exits 1 when a release's suites fail, and its report says FAILED", async () => {
    const dir = scratchDir("cli-exit-");
    const kubeconfig = join(dir, "unreachable.kubeconfig");
    writeFileSync(kubeconfig, UNREACHABLE);
    const reports = join(dir, "reports");
    const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve) => {
      const child = spawn(process.execPath, ["src/cli/test-kubernetes.ts", "--releases", kubernetesRelease()], {
        env: { ...process.env, VALKEY_KUBECONFIG: kubeconfig, VALKEY_REPORTS_DIR: reports },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let text = "";
      child.stdout.on("data", (chunk) => {
        text += chunk;
      });
      child.stderr.on("data", (chunk) => {
        text += chunk;
      });
      child.on("close", (exitCode) => resolve({ code: exitCode, output: text }));
    });
    expect(code, `exit status; the command's last output:\n${output.slice(-2000)}`).toBe(1);
    expect(output).toMatch(/FAILED/);
    expect(existsSync(join(reports, "kubernetes-matrix.md")), "the report was written").toBe(true);
  });
});
