import { afterEach, describe, expect, test, vi } from "vitest";
import { pinnedUpstreamVersion } from "../../src/chart/wrapper.ts";
import { upgradePlan } from "../../src/upgrade/plan.ts";
import { resolveRevision } from "../../src/upgrade/revision.ts";

describe("the upgrade plan", () => {
  afterEach(() => vi.unstubAllEnvs());

  test("one end without the other is an error naming the missing setting", () => {
    vi.stubEnv("VALKEY_UPGRADE_FROM", "0.9.0");
    expect(() => upgradePlan()).toThrow(/VALKEY_UPGRADE_TO.*both ends/);
  });

  test("from and to make one hop per environment", () => {
    vi.stubEnv("VALKEY_UPGRADE_FROM", "0.9.0");
    vi.stubEnv("VALKEY_UPGRADE_TO", "worktree");
    vi.stubEnv("VALKEY_UPGRADE_ENVS", "dev-01,prod-01");
    expect(upgradePlan().walks).toEqual([
      { env: "dev-01", revisions: ["0.9.0", "worktree"] },
      { env: "prod-01", revisions: ["0.9.0", "worktree"] },
    ]);
  });

  test("candidates walk from the pin in version order; one not later than the pin is refused", () => {
    vi.stubEnv("VALKEY_UPGRADE_CANDIDATES", "0.11.0,0.9.4");
    expect(upgradePlan().walks[0]?.revisions).toEqual([pinnedUpstreamVersion(), "0.9.4", "0.11.0"]);
    vi.stubEnv("VALKEY_UPGRADE_CANDIDATES", pinnedUpstreamVersion());
    expect(() => upgradePlan()).toThrow(/not later than the pinned/);
  });
});

describe("revisions", () => {
  test("a version tries that pin on the working tree's wrapper", async () => {
    expect(await resolveRevision("0.9.4")).toMatchObject({ label: "0.9.4", upstreamVersion: "0.9.4" });
  });

  test("a git ref is the wrapper as committed there, with its own pin", async () => {
    const revision = await resolveRevision("HEAD");
    expect(revision.label).toMatch(/^HEAD \([0-9a-f]{7}\), valkey \d+\.\d+\.\d+$/);
    expect(revision.chartDir).toContain("revisions");
  });

  test("an unknown ref is an error that says what was expected", async () => {
    await expect(resolveRevision("no-such-branch", "--from")).rejects.toThrow(
      /--from=no-such-branch: neither an upstream chart version/,
    );
  });
});
