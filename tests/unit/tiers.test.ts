import { readFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import { OPT_IN_PROJECTS, projectsOf, TIERS } from "../../src/tiers.ts";
import config from "../../vitest.config.ts";

const scripts = (
  JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
    scripts: Record<string, string>;
  }
).scripts;
const configured = (config.test?.projects ?? []).map((p) => (p as { test: { name: string } }).test.name);

describe("test tiers", () => {
  test("npm test runs exactly the default tier's projects, after lint", () => {
    expect(scripts.test).toMatch(/^npm run lint && vitest run /);
    expect(projectsOf(scripts.test ?? "")).toEqual([...TIERS.default]);
  });

  test("npm run test:full runs exactly the full tier's projects, after lint", () => {
    // The full tier breaks prod-01 too (VALKEY_FAILOVER_ENVS), unless the caller chose environments.
    expect(scripts["test:full"]).toMatch(
      /^npm run lint && VALKEY_FAILOVER_ENVS=\$\{VALKEY_FAILOVER_ENVS:-dev-01,prod-01\} vitest run /,
    );
    expect(projectsOf(scripts["test:full"] ?? "")).toEqual([...TIERS.full]);
  });

  test("the full tier holds the default tier, and every configured project is in it or opt-in", () => {
    expect(TIERS.full).toEqual(expect.arrayContaining([...TIERS.default]));
    expect([...configured].sort()).toEqual([...TIERS.full, ...OPT_IN_PROJECTS].sort());
  });

  test("ci.yml runs every project of the full tier in some job (the full-tier job adds the interrupts)", () => {
    const workflow = readFileSync(new URL("../../.github/workflows/ci.yml", import.meta.url), "utf8");
    const run = [
      ...new Set(
        workflow
          .split("\n")
          .filter((line) => /run: npx vitest run /.test(line))
          .flatMap((line) => projectsOf(line)),
      ),
    ];
    expect(run.sort()).toEqual([...TIERS.full, "interrupts"].sort());
  });

  test("a project missing from a script is seen (the check can fail)", () => {
    expect(projectsOf("vitest run --project unit --project chart")).not.toEqual([...TIERS.default]);
  });
});
