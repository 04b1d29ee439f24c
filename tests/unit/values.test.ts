import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { renderReadme } from "../../src/chart/docs.ts";
import { layeredValues, mergeValues, standInProvisioners } from "../../src/chart/release.ts";
import { environments, selectedEnvironments, WRAPPER_CHART } from "../../src/chart/wrapper.ts";

describe("values layering", () => {
  test("merges maps, replaces lists and scalars, and deletes keys set to null, as Helm does", () => {
    const base = { a: { b: 1, c: [1, 2], d: { e: true } }, keep: "x" };
    const override = { a: { b: 2, c: [3], d: null }, added: 1 };
    expect(mergeValues(base, override)).toEqual({ a: { b: 2, c: [3] }, keep: "x", added: 1 });
    expect(base.a.d).toEqual({ e: true });
  });

  test("keeps each environment's behaviour when the test overlays are layered on", () => {
    for (const env of environments()) {
      const layered = layeredValues(env);
      const file = readFileSync(join(WRAPPER_CHART, `values.${env}.yaml`), "utf8");
      if (/replicas:\s*(\d+)/.test(file))
        expect(String(layered.valkey.replica.replicas)).toBe(/replicas:\s*(\d+)/.exec(file)?.[1]);
      expect(layered.storageClass.provisioner, `${env}: the overlay must not replace the provisioner`).not.toBe(
        "rancher.io/local-path",
      );
    }
  });

  test("has a stand-in provisioner for every environment's cloud driver", () => {
    const standIns = standInProvisioners();
    for (const env of environments()) {
      expect(standIns, `values.${env}.yaml's provisioner`).toHaveProperty([
        layeredValues(env).storageClass.provisioner,
      ]);
    }
  });
});

describe("settings", () => {
  test("VALKEY_ENVS naming an unknown environment fails with the known ones", () => {
    const previous = process.env.VALKEY_ENVS;
    process.env.VALKEY_ENVS = "dev-01,nope-9";
    try {
      expect(() => selectedEnvironments()).toThrow(
        /VALKEY_ENVS="dev-01,nope-9" is not valid: unknown environment\(s\) nope-9; known: /,
      );
    } finally {
      if (previous === undefined) delete process.env.VALKEY_ENVS;
      else process.env.VALKEY_ENVS = previous;
    }
  });
});

describe("chart README", () => {
  test("its values table matches values.yaml (run `npm run chart:readme` after changing values)", () => {
    const readme = readFileSync(join(WRAPPER_CHART, "README.md"), "utf8");
    expect(renderReadme(readme)).toBe(readme);
  });
});
