import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, test } from "vitest";
import { run } from "../../src/process.ts";
import { checkSettings, SettingError, setting } from "../../src/settings.ts";

const saved = { ...process.env };
afterEach(() => {
  for (const key of Object.keys(process.env)) if (key.startsWith("VALKEY_") && !(key in saved)) delete process.env[key];
  Object.assign(process.env, saved);
});

describe("settings", () => {
  test.each(["1e0", "0x3", "2.0", " 2", "+2", "-1", "9", "abc"])(
    "VALKEY_CLUSTER_AGENTS=%j is refused: whole numbers in digits, 0-8",
    (raw) => {
      process.env.VALKEY_CLUSTER_AGENTS = raw;
      expect(() => setting("VALKEY_CLUSTER_AGENTS")).toThrow(SettingError);
      expect(() => setting("VALKEY_CLUSTER_AGENTS")).toThrow(
        `VALKEY_CLUSTER_AGENTS=${JSON.stringify(raw)} is not valid: use a whole number from 0 to 8, written in digits`,
      );
    },
  );

  test("Kubernetes releases are the ones fixtures/images/releases/ pins, named when refused", () => {
    process.env.VALKEY_KUBERNETES_VERSION = "v1.36";
    expect(setting("VALKEY_KUBERNETES_VERSION")).toBe("v1.36");
    process.env.VALKEY_KUBERNETES_VERSION = "1.36";
    expect(() => setting("VALKEY_KUBERNETES_VERSION")).toThrow(/use one of v1\.34, v1\.35, v1\.36, v1\.37/);
    process.env.VALKEY_KUBERNETES_VERSIONS = "all";
    expect(setting("VALKEY_KUBERNETES_VERSIONS")).toEqual(["v1.34", "v1.35", "v1.36", "v1.37"]);
    process.env.VALKEY_KUBERNETES_VERSIONS = "v1.35,v1.99";
    expect(() => setting("VALKEY_KUBERNETES_VERSIONS")).toThrow(/VALKEY_KUBERNETES_VERSIONS=.*use one of/);
  });

  test("a valid value parses; an unset or empty one gives the default", () => {
    process.env.VALKEY_CLUSTER_AGENTS = "2";
    expect(setting("VALKEY_CLUSTER_AGENTS")).toBe(2);
    process.env.VALKEY_CLUSTER_AGENTS = "";
    expect(setting("VALKEY_CLUSTER_AGENTS")).toBe(3);
  });

  test("environment settings name the unknown environment and the known ones", () => {
    process.env.VALKEY_ENVS = "dev-01,nope-9";
    expect(() => setting("VALKEY_ENVS")).toThrow(
      /VALKEY_ENVS="dev-01,nope-9" is not valid: unknown environment\(s\) nope-9; known: dev-01/,
    );
    process.env.VALKEY_BENCH_ENV = "prod-02";
    expect(() => setting("VALKEY_BENCH_ENV")).toThrow(/VALKEY_BENCH_ENV="prod-02" is not valid: unknown environment/);
  });

  test("checkSettings reports every invalid and every unknown VALKEY_* variable at once", () => {
    const env = { VALKEY_CLUSTER_AGENTS: "abc", VALKEY_HELM: "5", VALKEY_CLUSTR_AGENTS: "2", PATH: "/bin" };
    expect(() => checkSettings(env)).toThrow(
      /VALKEY_CLUSTER_AGENTS="abc"[\s\S]*VALKEY_HELM="5"[\s\S]*VALKEY_CLUSTR_AGENTS is not a setting/,
    );
  });

  test("an invalid setting fails an integration run outside CI too, instead of turning into a skip", async () => {
    const vitest = fileURLToPath(new URL("../../node_modules/vitest/vitest.mjs", import.meta.url));
    const env = { ...process.env, VALKEY_CLUSTER_AGENTS: "abc", CI: "" };
    const result = await run(process.execPath, [vitest, "run", "--project", "cluster"], { env, timeoutMs: 120_000 });
    expect(result.code, result.stdout + result.stderr).not.toBe(0);
    expect(result.stdout + result.stderr).toContain('VALKEY_CLUSTER_AGENTS="abc" is not valid');
    expect(result.stdout + result.stderr).not.toContain("SKIPPED");
  }, 150_000);
});
