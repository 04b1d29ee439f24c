import { beforeAll, describe, expect, test } from "vitest";
import { Helm } from "../../src/chart/helm.ts";
import { renderChart, stageChart } from "../../src/chart/wrapper.ts";
import { environmentValuesFile } from "../../src/environments.ts";
import { valuesFile } from "../support/values-file.ts";

/** Each bad value, and the words the error must contain on every Helm major. */
const badValues: { case: string; yaml: string; names: RegExp }[] = [
  {
    case: "negative replicas",
    yaml: "valkey:\n  replica:\n    replicas: -1\n",
    names: /valkey[./]replica[./]replicas/,
  },
  { case: "zero replicas", yaml: "valkey:\n  replica:\n    replicas: 0\n", names: /valkey[./]replica[./]replicas/ },
  {
    case: "replicas as a string",
    yaml: "valkey:\n  replica:\n    replicas: two\n",
    names: /valkey[./]replica[./]replicas/,
  },
  {
    case: "a size that is not a Kubernetes quantity",
    yaml: "valkey:\n  replica:\n    persistence:\n      size: 100GB\n",
    names: /valkey[./]replica[./]persistence[./]size/,
  },
  { case: "no provisioner", yaml: 'storageClass:\n  provisioner: ""\n', names: /storageClass[./]provisioner/ },
  {
    case: "minReplicasToWrite above replicas",
    yaml: "valkey:\n  replica:\n    replicas: 2\n    minReplicasToWrite: 3\n",
    names: /valkey\.replica\.minReplicasToWrite \(3\) is greater than valkey\.replica\.replicas \(2\)/,
  },
  {
    case: "persistence turned off",
    yaml: "valkey:\n  replica:\n    persistence:\n      enabled: false\n",
    names: /valkey[./]replica[./]persistence[./]enabled/,
  },
  {
    case: "a memory limit in the wrong unit",
    yaml: "valkey:\n  resources:\n    limits:\n      memory: 6GB\n",
    names: /valkey[./]resources[./]limits[./]memory/,
  },
  { case: "a misspelled wrapper key", yaml: "storageclass:\n  provisioner: x\n", names: /storageclass/ },
  {
    case: "a volume class the chart does not create",
    yaml: "valkey:\n  replica:\n    persistence:\n      storageClass: fast\n",
    names: /valkey\.replica\.persistence\.storageClass \("fast"\) differs from storageClass\.name/,
  },
];

describe.each(["4", "3"] as const)("Helm %s refuses bad values with the field's name", (major) => {
  let helm: Helm;
  let chart: string;
  beforeAll(async () => {
    helm = await Helm.resolve(major);
    chart = await stageChart(helm);
  });

  test.each(badValues)("$case", async ({ case: name, yaml, names }) => {
    const render = renderChart(helm, chart, {
      valuesFiles: [environmentValuesFile("dev-01"), valuesFile(name.replaceAll(" ", "-"), yaml)],
    });
    await expect(render).rejects.toThrow(names);
  });

  test("the upstream schema still applies beneath the wrapper's", async () => {
    const render = renderChart(helm, chart, {
      valuesFiles: [
        environmentValuesFile("dev-01"),
        valuesFile("upstream", "valkey:\n  deploymentStrategy: Sideways\n"),
      ],
    });
    await expect(render).rejects.toThrow(/deploymentStrategy/);
  });
});
