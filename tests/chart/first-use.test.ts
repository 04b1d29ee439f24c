import { spawn } from "node:child_process";
import { readdirSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { chartCacheDir } from "../../src/chart/upstream.ts";
import { listFiles, scratchDir } from "../../src/files.ts";

const PROCESSES = 6;

function firstUse(cache: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["tests/support/first-use.ts"], {
      env: { ...process.env, VALKEY_HARNESS_CACHE: cache },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
    });
    child.stderr.on("data", (chunk) => {
      stderr += chunk;
    });
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("the harness's cache on first use", () => {
  test(`${PROCESSES} processes filling an empty cache at once all succeed with identical results, and nothing half-made is left`, async () => {
    const cache = scratchDir("first-use-");
    // Only the upstream charts are shared: offline they cannot be pulled.
    symlinkSync(chartCacheDir(), join(cache, "charts"));
    const results = await Promise.all(Array.from({ length: PROCESSES }, () => firstUse(cache)));
    for (const [i, result] of results.entries()) {
      expect(result.code, `process ${i + 1} failed:\n${result.stderr}`).toBe(0);
    }
    const answers = results.map((result) => JSON.parse(result.stdout.trim().split("\n").at(-1) as string));
    for (const answer of answers.slice(1)) expect(answer).toEqual(answers[0]);
    const halfMade = readdirSync(cache, { recursive: true, encoding: "utf8" }).filter((path) =>
      /\.filling-|\.tmp$/.test(path),
    );
    expect(halfMade, "fills left behind").toEqual([]);
    expect(listFiles(join(cache, "helm")).length).toBeGreaterThanOrEqual(2);
  });
});
