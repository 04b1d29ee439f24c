import { spawn } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { scratchDir } from "../files.ts";
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
  try {
    await fullPageScreenshot(chromium, url, screenshot);
  } catch (error) {
    throw new Error(
      `chromium could not take a screenshot of ${htmlFile}: ${error instanceof Error ? error.message : error}`,
    );
  }
  return { charts, series, screenshot } satisfies RenderCheck;
}

const SCREENSHOT_WIDTH = 900;

/**
 * A PNG of the whole page, however tall (a fixed window once cut the upgrade report after
 * three of its five steps): Chromium started with a DevTools endpoint on 127.0.0.1, the
 * page laid out at SCREENSHOT_WIDTH, its height read, and the viewport grown to it.
 */
export async function fullPageScreenshot(chromium: string, url: string, file: string): Promise<{ height: number }> {
  const profile = scratchDir("chromium-");
  const browser = spawn(
    chromium,
    [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-dev-shm-usage",
      "--no-first-run",
      "--hide-scrollbars",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--remote-debugging-address=127.0.0.1",
      "--remote-debugging-port=0",
      `--user-data-dir=${profile}`,
      "about:blank",
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  const deadline = setTimeout(() => browser.kill("SIGKILL"), 60_000);
  try {
    const endpoint = await new Promise<string>((resolve, reject) => {
      let printed = "";
      browser.stderr.on("data", (chunk: Buffer) => {
        printed += chunk.toString();
        const found = printed.match(/DevTools listening on (ws:\/\/\S+)/);
        if (found) resolve(found[1] as string);
      });
      browser.on("exit", (code) =>
        reject(new Error(`chromium exited (${code}) before it listened: ${printed.slice(-500)}`)),
      );
      browser.on("error", (error) => reject(new Error(`chromium could not start: ${error.message}`)));
    });
    const targets = (await (await fetch(`http://${new URL(endpoint).host}/json/list`)).json()) as {
      type: string;
      webSocketDebuggerUrl: string;
    }[];
    const page = targets.find((t) => t.type === "page");
    if (!page) throw new Error("chromium opened no page");
    const devtools = await DevTools.connect(page.webSocketDebuggerUrl);
    try {
      const metrics = (height: number) => ({ width: SCREENSHOT_WIDTH, height, deviceScaleFactor: 1, mobile: false });
      await devtools.send("Page.enable");
      await devtools.send("Emulation.setDeviceMetricsOverride", metrics(800));
      const loaded = devtools.once("Page.loadEventFired");
      await devtools.send("Page.navigate", { url });
      await loaded;
      const measured = (await devtools.send("Runtime.evaluate", {
        expression: "Math.ceil(document.documentElement.scrollHeight)",
        returnByValue: true,
      })) as { result: { value: number } };
      const height = measured.result.value;
      await devtools.send("Emulation.setDeviceMetricsOverride", metrics(height));
      const shot = (await devtools.send("Page.captureScreenshot", {
        format: "png",
        captureBeyondViewport: true,
        clip: { x: 0, y: 0, width: SCREENSHOT_WIDTH, height, scale: 1 },
      })) as { data: string };
      writeFileSync(file, Buffer.from(shot.data, "base64"));
      return { height };
    } finally {
      devtools.close();
    }
  } finally {
    clearTimeout(deadline);
    browser.kill("SIGKILL");
    // A browser that never started (spawn error) has no pid and sends no exit.
    if (browser.pid !== undefined && browser.exitCode === null && browser.signalCode === null)
      await new Promise((resolve) => browser.once("exit", resolve));
    rmSync(profile, { recursive: true, force: true });
  }
}

/** The Chrome DevTools Protocol over one page's WebSocket: commands by id, events by name. */
class DevTools {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly waiting = new Map<string, () => void>();

  private readonly socket: WebSocket;

  private constructor(socket: WebSocket) {
    this.socket = socket;
    socket.addEventListener("close", () => {
      // The browser went away (killed at the deadline, crashed): nothing pending may wait forever.
      for (const call of this.pending.values()) call.reject(new Error("chromium's DevTools connection closed"));
      this.pending.clear();
      for (const fire of this.waiting.values()) fire();
      this.waiting.clear();
    });
    socket.addEventListener("message", (event) => {
      const message = JSON.parse(String(event.data)) as {
        id?: number;
        method?: string;
        result?: unknown;
        error?: { message: string };
      };
      if (message.id !== undefined) {
        const call = this.pending.get(message.id);
        this.pending.delete(message.id);
        if (message.error) call?.reject(new Error(message.error.message));
        else call?.resolve(message.result);
      } else if (message.method) {
        this.waiting.get(message.method)?.();
        this.waiting.delete(message.method);
      }
    });
  }

  static connect(url: string): Promise<DevTools> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url);
      socket.addEventListener("open", () => resolve(new DevTools(socket)));
      socket.addEventListener("error", () => reject(new Error(`could not connect to ${url}`)));
    });
  }

  send(method: string, params: Record<string, unknown> = {}): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.socket.send(JSON.stringify({ id, method, params }));
    });
  }

  once(event: string): Promise<void> {
    return new Promise((resolve) => this.waiting.set(event, resolve));
  }

  close(): void {
    this.socket.close();
  }
}
