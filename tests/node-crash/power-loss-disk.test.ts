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
const root = process.getuid?.() === 0;
// Not root (a CI runner's user): through sudo when it asks for no password.
const sudo = !root && (await run("sudo", ["-n", "true"]).catch(() => ({ code: 1 }))).code === 0;
const canMount = existsSync("/dev/fuse") && (root || sudo);
const missing = !hasGo
  ? "Go (tools/lazydisk is built from its sources)"
  : !canMount
    ? "/dev/fuse and root (or sudo without a password): it mounts FUSE"
    : undefined;
if (missing && process.env.CI !== "true") console.warn(`SKIPPED: the power-loss disk's own tests need ${missing}`);

describe("the power-loss disk (tools/lazydisk)", () => {
  test.skipIf(!!missing && process.env.CI !== "true")(
    "keeps what was fsync'd or written back, and loses what was not when it is killed (go test, real FUSE mounts)",
    async () => {
      if (missing) throw new Error(`CI=true: the power-loss disk's tests need ${missing}`);
      const goTest = ["go", "-C", module, "test", "-count=1", "./..."];
      const env = { ...process.env, LAZYDISK_REQUIRE_FUSE: "1" };
      const preserved = "--preserve-env=PATH,HOME,GOPATH,GOCACHE,GOMODCACHE,LAZYDISK_REQUIRE_FUSE";
      const result = root
        ? await run("go", goTest.slice(1), { env })
        : await run("sudo", ["-n", preserved, ...goTest], { env });
      expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
    },
    300_000,
  );
});
