import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";
import { run } from "../../src/process.ts";

/**
 * The disk under the node-crash scenarios' volumes (tools/lazydisk) is trusted only
 * because it is shown losing data: its Go tests mount it for real (FUSE) and kill it as
 * the power would go, then read what the backing directory kept.
 */
const module = fileURLToPath(new URL("../../tools/lazydisk/", import.meta.url));
const hasGo = (await run("sh", ["-c", "command -v go"])).code === 0;
const canMount = process.getuid?.() === 0 && existsSync("/dev/fuse");
const missing = !hasGo
  ? "Go (tools/lazydisk is built from its sources)"
  : !canMount
    ? "root and /dev/fuse (it mounts FUSE)"
    : undefined;
if (missing && process.env.CI !== "true") console.warn(`SKIPPED: the power-loss disk's own tests need ${missing}`);

describe("the power-loss disk (tools/lazydisk)", () => {
  test.skipIf(!!missing && process.env.CI !== "true")(
    "keeps what was fsync'd or written back, and loses what was not when it is killed (go test, real FUSE mounts)",
    async () => {
      if (missing) throw new Error(`CI=true: the power-loss disk's tests need ${missing}`);
      const result = await run("go", ["-C", module, "test", "-count=1", "./..."], {
        env: { ...process.env, LAZYDISK_REQUIRE_FUSE: "1" },
      });
      expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
    },
    300_000,
  );
});
