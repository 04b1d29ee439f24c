import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { renderReadme } from "../../src/chart/docs.ts";
import { fitRules } from "../../src/chart/fit.ts";
import { sameQuantity, scaleBytes, scaleCpu } from "../../src/chart/quantity.ts";
import { environmentValues, mergeValues, readValuesFile, serverConfigOf } from "../../src/chart/values.ts";
import { readProfile } from "../../src/durability/profiles.ts";
import { environments, WRAPPER_CHART } from "../../src/environments.ts";
import { scratchDir } from "../../src/files.ts";

const scratch = scratchDir("values-unit-");
const file = (name: string, text: string) => {
  const path = join(scratch, name);
  writeFileSync(path, text);
  return path;
};

describe("values layering", () => {
  test("merges maps, replaces lists and scalars, and deletes keys set to null, as Helm does", () => {
    const base = { a: { b: 1, c: [1, 2], d: { e: true } }, keep: "x" };
    const override = { a: { b: 2, c: [3], d: null }, added: 1 };
    expect(mergeValues(base, override)).toEqual({ a: { b: 2, c: [3] }, keep: "x", added: 1 });
    expect(base.a.d).toEqual({ e: true });
  });

  test("has a stand-in provisioner for every environment's cloud driver", () => {
    const standIns = fitRules().standInProvisioners;
    for (const env of environments()) {
      expect(standIns, `values.${env}.yaml's provisioner`).toHaveProperty([
        environmentValues(env).storageClass.provisioner,
      ]);
    }
  });
});

describe("a values file that Helm would not accept", () => {
  test("fails with the file and the line of a YAML error", () => {
    const broken = file("broken.yaml", "valkey:\n  replica:\n    replicas: 2\n   minReplicasToWrite: [1\n");
    expect(() => readValuesFile(broken)).toThrow(new RegExp(`${broken}:\\d+: not valid YAML`));
  });

  test("fails with the file when its top level is a list or a scalar, not a map", () => {
    expect(() => readValuesFile(file("list.yaml", "- valkey\n- replica\n"))).toThrow(
      /list\.yaml:1: the top level is a list, not a map/,
    );
    expect(() => readValuesFile(file("scalar.yaml", "just a sentence\n"))).toThrow(
      /scalar\.yaml:1: the top level is a string, not a map/,
    );
  });

  test("fails on a key given twice (YAML allows the last to win silently; Helm's parser refuses)", () => {
    expect(() => readValuesFile(file("twice.yaml", "storageClass:\n  name: a\nstorageClass:\n  name: b\n"))).toThrow(
      /twice\.yaml:3: not valid YAML/,
    );
  });

  test("reads an empty file as no values", () => {
    expect(readValuesFile(file("empty.yaml", "# nothing\n"))).toEqual({});
  });
});

describe("resource quantities of the fit rules", () => {
  test("scale CPU to whole millicores and memory to whole MiB, rounding up", () => {
    expect(scaleCpu("250m", 0.1)).toBe("25m");
    expect(scaleCpu("1", 0.1)).toBe("100m");
    expect(scaleCpu("1200m", 0.15)).toBe("180m");
    expect(scaleBytes("256Mi", 0.1)).toBe("26Mi");
    expect(scaleBytes("10Gi", 0.01)).toBe("103Mi");
    expect(scaleBytes("100Gi", 0.01)).toBe("1024Mi");
  });

  test("compare amounts, not spellings", () => {
    expect(sameQuantity("1Gi", "1024Mi", "bytes")).toBe(true);
    expect(sameQuantity("0.5", "500m", "cpu")).toBe(true);
    expect(sameQuantity("1G", "1Gi", "bytes")).toBe(false);
  });
});

describe("chart README", () => {
  test("its values table matches values.yaml (run `npm run chart:readme` after changing values)", () => {
    const readme = readFileSync(join(WRAPPER_CHART, "README.md"), "utf8");
    expect(renderReadme(readme)).toBe(readme);
  });
});

describe("the wrapper's default persistence", () => {
  test("is the aof-everysec profile's, whose promise the README and the durability suite state", () => {
    const wrapper = serverConfigOf(readValuesFile(join(WRAPPER_CHART, "values.yaml")));
    expect(wrapper).toEqual(serverConfigOf(readProfile("aof-everysec").values));
  });
});
