import { readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";
import { run } from "../../src/process.ts";

const workflows = fileURLToPath(new URL("../../.github/workflows/", import.meta.url));
const validator = fileURLToPath(new URL("../../node_modules/.bin/action-validator", import.meta.url));

describe("GitHub workflows", () => {
  test.each(readdirSync(workflows).filter((f) => f.endsWith(".yml")))("%s passes action-validator", async (file) => {
    const result = await run(validator, [join(workflows, file)]);
    expect(result.stdout + result.stderr).not.toMatch(/error/i);
    expect(result.code).toBe(0);
  });

  test("action-validator rejects a broken workflow (the check can fail)", async () => {
    const { mkdtempSync, writeFileSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const broken = join(mkdtempSync(join(tmpdir(), "wf-")), "broken.yml");
    writeFileSync(broken, "name: x\non: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    stepz: []\n");
    expect((await run(validator, [broken])).code).not.toBe(0);
  });
});
