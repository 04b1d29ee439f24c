import { defineConfig } from "vitest/config";

const integration = {
  // One cluster serves every integration suite; their files run one after another.
  globalSetup: ["tests/support/cluster.global.ts"],
  fileParallelism: false,
  testTimeout: 600_000,
  hookTimeout: 900_000,
};

export default defineConfig({
  test: {
    reporters: ["default"],
    projects: [
      { test: { name: "unit", include: ["tests/unit/**/*.test.ts"] } },
      { test: { name: "chart", include: ["tests/chart/**/*.test.ts"], testTimeout: 120_000 } },
      // Integration projects run one after another (groupOrder): the smoke suite restarts the
      // node, which the others must not see.
      {
        test: { name: "cluster", include: ["tests/cluster/**/*.test.ts"], ...integration, sequence: { groupOrder: 1 } },
      },
      {
        test: { name: "install", include: ["tests/install/**/*.test.ts"], ...integration, sequence: { groupOrder: 2 } },
      },
      {
        test: {
          name: "failover",
          include: ["tests/failover/**/*.test.ts"],
          ...integration,
          sequence: { groupOrder: 3 },
        },
      },
      { test: { name: "bench", include: ["tests/bench/**/*.test.ts"], ...integration, sequence: { groupOrder: 4 } } },
    ],
  },
});
