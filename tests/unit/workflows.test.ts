import { readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";
import { scratchDir } from "../../src/files.ts";
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
    const { writeFileSync } = await import("node:fs");
    const broken = join(scratchDir("wf-"), "broken.yml");
    writeFileSync(broken, "name: x\non: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    stepz: []\n");
    expect((await run(validator, [broken])).code).not.toBe(0);
  });
});
