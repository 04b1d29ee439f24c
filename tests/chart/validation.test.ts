import { beforeAll, describe, expect, test } from "vitest";
import { Helm } from "../../src/chart/helm.ts";
import { renderChart, stageChart } from "../../src/chart/wrapper.ts";
import { environmentValuesFile } from "../../src/environments.ts";
import { helmMajorsHere } from "../support/helm-majors.ts";
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
  {
    case: "server configuration that drops the append-only file unsaid",
    yaml: "valkey:\n  valkeyConfig: |\n    maxmemory-policy allkeys-lru\n",
    names: /valkey\.valkeyConfig has no `appendonly yes` line.*serverConfig\.allowWithoutAppendOnly: true/,
  },
  {
    case: "an append-only file turned off by a later line",
    yaml: "valkey:\n  valkeyConfig: |\n    appendonly yes\n    appendonly no\n",
    names: /valkey\.valkeyConfig has no `appendonly yes` line/,
  },
  {
    case: "the wrapper's init container on another image than the server",
    yaml: "valkey:\n  image:\n    tag: 9.1.2\n",
    names:
      /valkey-wrapper-init\) runs image "docker\.io\/valkey\/valkey:9\.0\.1", but the server runs "docker\.io\/valkey\/valkey:9\.1\.2".*Set its image to/,
  },
  {
    case: "a PodDisruptionBudget from both the wrapper and upstream",
    yaml: "podDisruptionBudget:\n  enabled: true\nvalkey:\n  podDisruptionBudget:\n    enabled: true\n",
    names: /would both create PodDisruptionBudget valkey.*set valkey\.podDisruptionBudget\.enabled: false/,
  },
  {
    case: "a PrometheusRule from both the wrapper and upstream",
    yaml: "alerts:\n  prometheusRule:\n    enabled: true\nvalkey:\n  metrics:\n    prometheusRule:\n      enabled: true\n",
    names: /would both create PrometheusRule valkey/,
  },
  {
    case: "a memory limit with a fraction the chart cannot derive maxmemory from",
    yaml: "valkey:\n  resources:\n    limits:\n      memory: 1.5Gi\n",
    names: /valkey\.resources\.limits\.memory is "1\.5Gi".*1536Mi, not 1\.5Gi/,
  },
  {
    case: "maxmemory that leaves no headroom",
    yaml: "serverConfig:\n  maxmemoryPercentOfLimit: 99\n",
    names: /serverConfig[./]maxmemoryPercentOfLimit/,
  },
  {
    case: "an eviction policy Valkey does not know",
    yaml: "serverConfig:\n  maxmemoryPolicy: lru\n",
    names: /serverConfig[./]maxmemoryPolicy/,
  },
  {
    case: "extra server configs that drop the wrapper's",
    yaml: "valkey:\n  extraValkeyConfigs:\n    - name: mine\n      mountPath: /mine\n",
    names: /valkey\.extraValkeyConfigs has no entry named valkey-wrapper-server.*Add `- name: valkey-wrapper-server`/,
  },
];

describe.each(await helmMajorsHere())("Helm %s refuses bad values with the field's name", (major) => {
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

  test("renders server configuration without the append-only file when serverConfig.allowWithoutAppendOnly says it is meant", async () => {
    const manifests = await renderChart(helm, chart, {
      valuesFiles: [
        environmentValuesFile("dev-01"),
        valuesFile(
          "cache-without-aof",
          "serverConfig:\n  allowWithoutAppendOnly: true\nvalkey:\n  valkeyConfig: |\n    appendonly no\n",
        ),
      ],
    });
    expect(manifests.some((m) => m.kind === "StatefulSet")).toBe(true);
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
