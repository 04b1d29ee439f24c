import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, test } from "vitest";
import { scratchDir } from "../../src/files.ts";
import { BASELINE_REPORTS, benchHtml, readBenchReport } from "../../src/report/bench.ts";
import { findChromium, fullPageScreenshot } from "../../src/report/browser-check.ts";

const chromium = await findChromium();
if (!chromium && process.env.CI !== "true")
  console.warn("SKIPPED: the report screenshot needs Chromium (VALKEY_CHROMIUM, or chromium on PATH)");

/** Width and height from a PNG's IHDR chunk. */
function pngSize(file: string): { width: number; height: number } {
  const bytes = readFileSync(file);
  return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
}

describe("a report's PNG", () => {
  test.skipIf(!chromium && process.env.CI !== "true")(
    "holds the whole page, however tall: the committed benchmark report, every workload's charts",
    async () => {
      if (!chromium)
        throw new Error("CI=true: no Chromium to take the screenshot (VALKEY_CHROMIUM or chromium on PATH)");
      const dir = scratchDir("report-screenshot-");
      const html = join(dir, "bench.html");
      writeFileSync(html, benchHtml(readBenchReport(join(BASELINE_REPORTS, "bench-dev-01.json"))));
      const png = join(dir, "bench.png");
      const { height } = await fullPageScreenshot(chromium, pathToFileURL(html).href, png);
      // A fixed 2,400 px window cut this page after its fourth workload.
      expect(height).toBeGreaterThan(2400);
      expect(pngSize(png)).toEqual({ width: 900, height });
    },
    60_000,
  );
});
