import { existsSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { run } from "../process.ts";
import { setting } from "../settings.ts";

const CANDIDATES = ["chromium-headless-shell", "chromium", "chromium-browser", "google-chrome"];

/** The headless Chromium to check reports with: VALKEY_CHROMIUM, else the first on PATH. */
export async function findChromium(): Promise<string | undefined> {
  const configured = setting("VALKEY_CHROMIUM");
  if (configured) return configured;
  for (const name of CANDIDATES) {
    const found = await run("sh", ["-c", `command -v ${name}`]);
    if (found.code === 0) return found.stdout.trim();
  }
  return undefined;
}

export interface RenderCheck {
  /** Inline SVG charts in the rendered DOM. */
  charts: number;
  /** Data series (polylines) in the latency charts. */
  series: number;
  screenshot: string;
}

/**
 * Opens a report page in headless Chromium, checks that the rendered DOM holds its
 * charts, and takes a screenshot next to it. Throws with what is missing.
 */
export async function checkReportRenders(chromium: string, htmlFile: string, expectedCharts: number) {
  const url = pathToFileURL(htmlFile).href;
  const flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"];
  const dom = await run("timeout", ["60", chromium, ...flags, "--dump-dom", url]);
  if (dom.code !== 0) throw new Error(`chromium could not render ${htmlFile}: ${dom.stderr.slice(-500)}`);
  const charts = (dom.stdout.match(/<svg[^>]*class="chart/g) ?? []).length;
  const series = (dom.stdout.match(/<polyline class="series"/g) ?? []).length;
  if (charts < expectedCharts) {
    throw new Error(`${htmlFile} rendered ${charts} charts in Chromium, expected ${expectedCharts}`);
  }
  const screenshot = htmlFile.replace(/\.html$/, ".png");
  const shot = await run("timeout", [
    "60",
    chromium,
    ...flags,
    "--hide-scrollbars",
    "--window-size=900,2400",
    `--screenshot=${screenshot}`,
    url,
  ]);
  if (shot.code !== 0 || !existsSync(screenshot)) {
    throw new Error(`chromium could not take a screenshot of ${htmlFile}: ${shot.stderr.slice(-500)}`);
  }
  return { charts, series, screenshot } satisfies RenderCheck;
}
