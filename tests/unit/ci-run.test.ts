import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";
import { scratchDir } from "../../src/files.ts";
import { run } from "../../src/process.ts";

const script = readFileSync(fileURLToPath(new URL("../../.ci/run", import.meta.url)), "utf8");
/** The script's options, its phase bookkeeping and its exit trap, without the phases themselves. */
const prologue = script.slice(0, script.indexOf("trap at_exit EXIT") + "trap at_exit EXIT".length);

/** Runs the prologue, then `body`, as the script would (set -euo pipefail, the EXIT trap armed). */
async function runWithTrap(body: string) {
  const dir = scratchDir("ci-run-test");
  const file = join(dir, "run");
  writeFileSync(file, `${prologue.replace('cd "$(dirname "$0")/.."', "")}\n${body}\n`);
  return run("bash", [file], { env: { ...process.env, VALKEY_HARNESS_CACHE: dir } });
}

describe(".ci/run's exit status", () => {
  test("is 0 when every phase passed: the exit trap's own last command does not replace it", async () => {
    const result = await runWithTrap('section "a phase that passes"\ntrue\nexit $status');
    expect(result.stdout).toMatch(/total \d+ s: passed/);
    expect(result.code).toBe(0);
  });

  test("is 1 when a phase failed and the run went on", async () => {
    const result = await runWithTrap('section "a phase that fails"\nfalse || failed\nexit $status');
    expect(result.stdout).toMatch(/a phase that fails\s+\d+s\s+FAILED/);
    expect(result.code).toBe(1);
  });

  test("is the failing step's when set -e ends the run early", async () => {
    const result = await runWithTrap('section "setup"\n(exit 7)\necho unreachable');
    expect(result.stdout).not.toContain("unreachable");
    expect(result.stdout).toMatch(/FAILED \(exit 7\)/);
    expect(result.code).toBe(7);
  });

  test("is 130 when interrupted: the phase under way ends and no later phase starts", async () => {
    const result = await runWithTrap(
      [
        'section "a phase interrupted"',
        "(sleep 0.3; kill -INT $$) &",
        "sleep 1 || failed",
        'section "a later phase"',
        "echo the later phase ran",
        "exit $status",
      ].join("\n"),
    );
    expect(result.stdout).not.toContain("the later phase ran");
    expect(result.stdout).toMatch(/a phase interrupted\s+\d+s\s+FAILED/);
    expect(result.code).toBe(130);
  });
});
