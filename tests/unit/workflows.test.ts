import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";
import { parse } from "yaml";
import { scratchDir } from "../../src/files.ts";
import { run } from "../../src/process.ts";

const workflows = fileURLToPath(new URL("../../.github/workflows/", import.meta.url));
const validator = fileURLToPath(new URL("../../node_modules/.bin/action-validator", import.meta.url));
/** actionlint, pinned by tools/actionlint/go.sum and run with `go tool` (built on first use). */
const actionlintModule = fileURLToPath(new URL("../../tools/actionlint/", import.meta.url));
const files = readdirSync(workflows).filter((f) => f.endsWith(".yml"));
const actionlint = (paths: string[]) => run("go", ["-C", actionlintModule, "tool", "actionlint", ...paths]);
const hasGo = (await run("sh", ["-c", "command -v go"])).code === 0;
if (!hasGo && process.env.CI !== "true")
  console.warn("SKIPPED: actionlint needs Go (it is built from tools/actionlint)");

interface Workflow {
  concurrency?: { group: string };
  permissions?: Record<string, string>;
  jobs: Record<
    string,
    { "timeout-minutes"?: number; permissions?: Record<string, string>; steps?: { uses?: string }[] }
  >;
}
const parsed = (file: string) => parse(readFileSync(join(workflows, file), "utf8")) as Workflow;

describe("GitHub workflows", () => {
  test.each(readdirSync(workflows).filter((f) => f.endsWith(".yml")))("%s passes action-validator", async (file) => {
    const result = await run(validator, [join(workflows, file)]);
    expect(result.stdout + result.stderr).not.toMatch(/error/i);
    expect(result.code).toBe(0);
  });

  test("action-validator rejects a broken workflow (the check can fail)", async () => {
    const broken = join(scratchDir("wf-"), "broken.yml");
    writeFileSync(broken, "name: x\non: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    stepz: []\n");
    expect((await run(validator, [broken])).code).not.toBe(0);
  });

  test.skipIf(!hasGo && process.env.CI !== "true")("every workflow passes actionlint", async () => {
    const result = await actionlint(files.map((f) => join(workflows, f)));
    expect(result.stdout + result.stderr).toBe("");
    expect(result.code).toBe(0);
  });

  test.skipIf(!hasGo && process.env.CI !== "true")(
    "actionlint rejects a workflow reading a context that does not exist (the check can fail)",
    async () => {
      const broken = join(scratchDir("wf-"), "broken.yml");
      writeFileSync(
        broken,
        // A GitHub expression, not a template literal's placeholder.
        `on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo $\{{ github.nope }}\n`,
      );
      const result = await actionlint([broken]);
      expect(result.code).toBe(1);
      expect(result.stdout).toContain('property "nope" is not defined');
    },
  );

  test.each(files)("%s: a concurrency group, a timeout on every job, actions pinned by commit", (file) => {
    const workflow = parsed(file);
    expect(workflow.concurrency?.group).toContain("github.ref");
    for (const [name, job] of Object.entries(workflow.jobs)) {
      expect(job["timeout-minutes"], `${file}: job ${name} has timeout-minutes`).toBeGreaterThan(0);
      for (const step of job.steps ?? []) {
        if (step.uses) expect(step.uses, `${file}: job ${name}`).toMatch(/^[\w./-]+@[0-9a-f]{40}$/);
      }
    }
  });

  test("only release.yml's attach job may write to the repository, and it runs no project code", () => {
    const writers = files.flatMap((file) => {
      const workflow = parsed(file);
      expect(workflow.permissions?.contents, `${file}: top-level contents permission`).toBe("read");
      return Object.entries(workflow.jobs)
        .filter(([, job]) => job.permissions?.contents === "write")
        .map(([name, job]) => ({ at: `${file}:${name}`, steps: job.steps ?? [] }));
    });
    expect(writers.map((w) => w.at)).toEqual(["release.yml:attach"]);
    // No checkout: the repository's code is not even on the runner; its one command uploads.
    const steps = (writers[0]?.steps ?? []) as { uses?: string; run?: string }[];
    expect(steps.filter((step) => step.uses?.startsWith("actions/checkout"))).toEqual([]);
    expect(steps.filter((step) => step.run).map((step) => step.run?.trim().split(" ").slice(0, 3).join(" "))).toEqual([
      "gh release upload",
    ]);
  });
});
