import { defineConfig } from "vitest/config";

const integration = {
  // One cluster serves every integration suite; their files run one after another.
  fileParallelism: false,
  testTimeout: 600_000,
  hookTimeout: 900_000,
};

export default defineConfig({
  test: {
    reporters: ["default"],
    globalSetup: ["tests/support/cluster.global.ts"],
    projects: [
      { test: { name: "unit", include: ["tests/unit/**/*.test.ts"] } },
      { test: { name: "chart", include: ["tests/chart/**/*.test.ts"], testTimeout: 120_000 } },
      { test: { name: "cluster", include: ["tests/cluster/**/*.test.ts"], ...integration } },
      { test: { name: "install", include: ["tests/install/**/*.test.ts"], ...integration } },
      { test: { name: "failover", include: ["tests/failover/**/*.test.ts"], ...integration } },
      { test: { name: "bench", include: ["tests/bench/**/*.test.ts"], ...integration } },
    ],
  },
});
