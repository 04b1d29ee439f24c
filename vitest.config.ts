import { defineConfig } from "vitest/config";

const integration = {
  // One cluster serves every integration project of a run; their files run one after another.
  globalSetup: ["tests/support/cluster.global.ts"],
  fileParallelism: false,
  testTimeout: 600_000,
  hookTimeout: 900_000,
};

/** An integration project; `order` runs the projects one after another (groupOrder). */
const suite = (name: string, order: number, extra: Record<string, unknown> = {}) => ({
  test: { name, include: [`tests/${name}/**/*.test.ts`], ...integration, sequence: { groupOrder: order }, ...extra },
});

export default defineConfig({
  test: {
    reporters: ["default", "./tests/support/timing-reporter.ts"],
    projects: [
      { test: { name: "unit", include: ["tests/unit/**/*.test.ts"] } },
      { test: { name: "chart", include: ["tests/chart/**/*.test.ts"], testTimeout: 120_000 } },
      // The smoke suite restarts the server node, which the others must not see: it runs first.
      suite("cluster", 1),
      suite("install", 2),
      // Mutation batches install side by side, four at a time (2 cores).
      suite("mutations", 3, { maxConcurrency: 4 }),
      suite("failover", 4),
      suite("upgrade", 5),
      suite("bench", 6),
    ],
  },
});
