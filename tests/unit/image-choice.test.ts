import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { harnessImageValues, splitImageReference } from "../../src/chart/upstream.ts";
import { type ImageSet, ImagesUnavailable } from "../../src/images/index.ts";
import { mirrorFiles, underRegistry } from "../../src/images/registry.ts";
import { chooseImages, type ImageProbes, upstreamNodeImage } from "../../src/images/source.ts";

const built: ImageSet = {
  inputs: "abc",
  node: "localhost/kube-node:v1.34.4-abc",
  valkey: "localhost/valkey:9.1.2-debian-sid",
  exporter: "localhost/redis-exporter:1.86.0-debian-sid",
  helper: "localhost/busybox:1.35.0-debian-bookworm",
  prometheus: "localhost/prometheus:3.16.0",
  versions: {},
};

/** Probes of a machine described by the arguments; records whether a build was started. */
function machine(state: { built?: boolean; missing?: string[]; online?: boolean }) {
  const calls: string[] = [];
  const probes: ImageProbes = {
    built: async () => (state.built ? built : undefined),
    missingTools: async () => state.missing ?? [],
    publicRegistryAnswers: async () => state.online ?? false,
    build: async () => {
      calls.push("build");
      return built;
    },
    fromRegistry: async (registry) => {
      calls.push(`pull ${registry}`);
      return { ...built, node: underRegistry(built.node, registry), pulledFrom: registry };
    },
  };
  return { probes, calls };
}

describe("choosing where the cluster's images come from", () => {
  const saved = { ...process.env };
  beforeEach(() => {
    delete process.env.VALKEY_IMAGES;
    delete process.env.VALKEY_REGISTRY;
  });
  afterEach(() => {
    process.env = { ...saved };
  });

  test("uses the offline images when they are built, and says so", async () => {
    const choice = await chooseImages(machine({ built: true, online: true }).probes);
    expect(choice).toMatchObject({ source: "offline", node: built.node });
    expect(choice.reason).toContain("built");
  });

  test("builds them when Go, gcc and debootstrap are here", async () => {
    const { probes, calls } = machine({ missing: [] });
    expect((await chooseImages(probes)).source).toBe("offline");
    expect(calls).toEqual(["build"]);
  });

  test("without the build tools, takes VALKEY_REGISTRY and names why", async () => {
    process.env.VALKEY_REGISTRY = "127.0.0.1:5000";
    const { probes, calls } = machine({ missing: ["go", "debootstrap"] });
    const choice = await chooseImages(probes);
    expect(calls).toEqual(["pull 127.0.0.1:5000"]);
    expect(choice.set?.pulledFrom).toBe("127.0.0.1:5000");
    expect(choice.reason).toMatch(/go, debootstrap not found.*127\.0\.0\.1:5000/);
  });

  test("without tools or VALKEY_REGISTRY, takes rancher/k3s and the chart's own images when Docker Hub answers", async () => {
    const choice = await chooseImages(machine({ missing: ["go"], online: true }).probes);
    expect(choice).toMatchObject({ source: "registry", node: upstreamNodeImage() });
    expect(choice.set).toBeUndefined();
    expect(upstreamNodeImage()).toMatch(/^rancher\/k3s:v1\.\d+\.\d+-k3s1$/);
  });

  test("with neither way open, fails with one error naming both ways out (a laptop may skip for it)", async () => {
    const failure = chooseImages(machine({ missing: ["debootstrap"], online: false }).probes);
    await expect(failure).rejects.toBeInstanceOf(ImagesUnavailable);
    await expect(failure).rejects.toThrow(/npm run images.*VALKEY_REGISTRY/s);
  });

  test("VALKEY_IMAGES=registry never builds, even where it could", async () => {
    process.env.VALKEY_IMAGES = "registry";
    process.env.VALKEY_REGISTRY = "registry.example:5000";
    const { probes, calls } = machine({ built: true, missing: [] });
    expect((await chooseImages(probes)).node).toBe("registry.example:5000/kube-node:v1.34.4-abc");
    expect(calls).toEqual(["pull registry.example:5000"]);
  });

  test("VALKEY_IMAGES=offline fails, naming the missing tools, rather than pull", async () => {
    process.env.VALKEY_IMAGES = "offline";
    await expect(chooseImages(machine({ missing: ["go"], online: true }).probes)).rejects.toThrow(/lacks go/);
  });

  test("an explicit node image never starts a build", async () => {
    const { probes, calls } = machine({ missing: [], online: true });
    expect((await chooseImages(probes, false)).source).toBe("registry");
    expect(calls).toEqual([]);
  });

  test("an invalid VALKEY_REGISTRY is an error naming the variable", async () => {
    process.env.VALKEY_REGISTRY = "http://127.0.0.1:5000";
    await expect(chooseImages(machine({ missing: ["go"] }).probes)).rejects.toThrow(
      /VALKEY_REGISTRY=.*without a scheme/,
    );
  });
});

describe("image references under a registry", () => {
  test("splits registry (with a port), repository and tag the way the upstream chart's values want them", () => {
    expect(splitImageReference("127.0.0.1:5000/valkey:9.1.2-debian-sid")).toEqual({
      registry: "127.0.0.1:5000",
      repository: "valkey",
      tag: "9.1.2-debian-sid",
    });
    expect(splitImageReference("localhost/k8s/pause:3.10.1")).toEqual({
      registry: "localhost",
      repository: "k8s/pause",
      tag: "3.10.1",
    });
    expect(splitImageReference("valkey/valkey:9")).toEqual({
      registry: "docker.io",
      repository: "valkey/valkey",
      tag: "9",
    });
  });

  test("imported images are never pulled; registry images are pulled when absent", () => {
    expect(harnessImageValues(built).image.pullPolicy).toBe("Never");
    const pulled = harnessImageValues({
      ...built,
      valkey: underRegistry(built.valkey, "127.0.0.1:5000"),
      pulledFrom: "127.0.0.1:5000",
    });
    expect(pulled.image).toEqual({
      registry: "127.0.0.1:5000",
      repository: "valkey",
      tag: "9.1.2-debian-sid",
      pullPolicy: "IfNotPresent",
    });
  });

  test("points containerd and k3s at the registry container for the registry's name, over plain HTTP", () => {
    const [hosts, k3s] = mirrorFiles("127.0.0.1:5000", "http://valkey-harness-registry:5000");
    expect(hosts?.target).toBe("/etc/containerd/certs.d/127.0.0.1:5000/hosts.toml");
    expect(hosts?.content).toContain('server = "http://valkey-harness-registry:5000"');
    expect(k3s?.target).toBe("/etc/rancher/k3s/registries.yaml");
    expect(k3s?.content).toContain('"127.0.0.1:5000"');
  });
});
