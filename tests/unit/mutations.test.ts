import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { CHECKS } from "../../src/checks/index.ts";
import { scratchDir } from "../../src/files.ts";
import { affected, planBatches, prepareBatch, readCatalogue, readMutation } from "../../src/mutations/catalogue.ts";
import { run } from "../../src/process.ts";

const catalogue = readCatalogue();

describe("the mutation catalogue", () => {
  test("names every check of src/checks: each is shown able to fail", () => {
    const caught = new Set(catalogue.map((m) => m.catches));
    expect(
      CHECKS.map((c) => c.id).filter((id) => !caught.has(id)),
      "checks no mutation catches",
    ).toEqual([]);
  });

  test("refuses an entry with an unknown field, environment or check, naming the file and the field", () => {
    const dir = scratchDir("mutation-");
    const entry = (name: string, text: string) => {
      writeFileSync(join(dir, `${name}.yaml`), text);
      return join(dir, `${name}.yaml`);
    };
    const base = "description: a thing is broken here\nenv: dev-01\ncatches: pods.spread\nmessage: x\nvalues: {a: 1}\n";
    expect(() => readMutation(entry("ok", base))).not.toThrow();
    expect(() => readMutation(entry("env", base.replace("dev-01", "dev-99")))).toThrow(
      /env\.yaml: env must name an environment/,
    );
    expect(() => readMutation(entry("check", base.replace("pods.spread", "pods.spreed")))).toThrow(
      /check\.yaml: catches must name a check/,
    );
    expect(() => readMutation(entry("field", `${base}catch: x\n`))).toThrow(/field\.yaml: catch is not a field/);
  });

  test("shares an install only between mutations that break disjoint checks and set different keys", () => {
    for (const batch of planBatches(catalogue)) {
      const checks = batch.mutations.flatMap(affected);
      expect(new Set(checks).size, `checks of batch ${batch.mutations.map((m) => m.id)}`).toBe(checks.length);
      expect(batch.mutations.filter((m) => m.patch).length).toBeLessThanOrEqual(1);
      if (batch.mutations.some((m) => m.catches === "install")) expect(batch.mutations).toHaveLength(1);
    }
  });

  test("every patch applies to the committed chart", async () => {
    for (const mutation of catalogue.filter((m) => m.patch)) {
      const { chartDir } = await prepareBatch({
        env: mutation.env,
        profiles: mutation.profiles,
        mutations: [mutation],
      });
      const diff = await run("diff", [
        "-r",
        join(import.meta.dirname, "../../charts/valkey/templates"),
        join(chartDir, "templates"),
      ]);
      expect(diff.code, `${mutation.patch} changed nothing`).toBe(1);
    }
  });
});
