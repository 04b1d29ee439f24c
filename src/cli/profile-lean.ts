/**
 * npm run measure:lean-profile: where the lean generator's CPU goes. One Valkey container
 * on 127.0.0.1 (the workload image), the cache key space preloaded, valkey-benchmark and
 * the lean generator (one thread, under V8's sampling profiler) on the same closed loop;
 * prints both clients' CPU per million GETs and the functions the generator spent it in.
 */
import { Session } from "node:inspector/promises";
import { preloadKeySpace, processCpuSeconds } from "../bench/accounting.ts";
import { closedCache, KEY_SPACE, VALUE_BYTES } from "../bench/common.ts";
import { runLeanShare } from "../bench/lean.ts";
import { benchmarkFromHost } from "../bench/reference.ts";
import { harnessLabels } from "../cluster/cleanup.ts";
import { onProcessEnd } from "../exit.ts";
import { builtImages } from "../images/index.ts";
import { run, runOrThrow } from "../process.ts";
import { markdownTable } from "../report/index.ts";
import { type CommandSpec, parseCommandLine, runMain, wholeOption } from "./args.ts";

const spec: CommandSpec = {
  invocation: "npm run measure:lean-profile --",
  description:
    "Starts one Valkey container on 127.0.0.1 (the offline workload image), preloads the cache key space, runs valkey-benchmark and then the lean generator on one thread under V8's sampling profiler, with equal settings, and prints each client's CPU seconds per million GETs and the generator's functions by their share of its CPU samples. The container is removed at the end, also on Ctrl-C.",
  options: {
    pipeline: { value: "N", description: "commands per pipeline (1-64)", default: "16" },
    operations: { value: "N", description: "GETs per client (10000-5000000)", default: "400000" },
    top: { value: "N", description: "functions to list (5-50)", default: "15" },
  },
  epilogue: ["example: npm run measure:lean-profile -- --pipeline 1 --operations 100000"],
};

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

const { options } = parseCommandLine(spec);
const pipeline = wholeOption(spec, "pipeline", options.pipeline, 1, 64, 16);
const operations = wholeOption(spec, "operations", options.operations, 10_000, 5_000_000, 400_000);
const top = wholeOption(spec, "top", options.top, 5, 50, 15);

runMain(async () => {
  const image = (await builtImages())?.valkey;
  if (!image) throw new Error("no offline workload image of the current inputs: run `npm run images` first");
  const labels = Object.entries(harnessLabels()).flatMap(([key, value]) => ["--label", `${key}=${value}`]);
  const container = (
    await runOrThrow("docker", [
      "run",
      "-d",
      "--rm",
      ...labels,
      "-p",
      "127.0.0.1::6379",
      "--entrypoint",
      "valkey-server",
      image,
      "--save",
      "",
      "--appendonly",
      "no",
      "--protected-mode",
      "no",
    ])
  ).trim();
  const remove = () => run("docker", ["rm", "-f", "-v", container]).then(() => {});
  onProcessEnd("the profiling Valkey container", () => {
    void remove();
  });
  try {
    const port = Number((await runOrThrow("docker", ["port", container, "6379/tcp"])).trim().split(":").at(-1));
    const endpoint = { host: "127.0.0.1", port };
    for (let i = 0; i < 50; i++) {
      const ping = await run("docker", ["exec", container, "valkey-cli", "ping"]);
      if (ping.stdout.includes("PONG")) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await preloadKeySpace(endpoint, {}, KEY_SPACE, VALUE_BYTES);
    const settings = { ...closedCache(pipeline, operations), maxSeconds: 120 };
    const reference = await benchmarkFromHost(image, settings, port, "get");
    // A warm-up: the generator's code optimized before the profile starts.
    await runLeanShare(endpoint, {}, settings, {
      connections: 8,
      maxOperations: Math.min(100_000, operations),
      rate: 0,
    });
    const session = new Session();
    session.connect();
    await session.post("Profiler.enable");
    await session.post("Profiler.setSamplingInterval", { interval: 200 });
    await session.post("Profiler.start");
    const cpu = processCpuSeconds();
    const lean = await runLeanShare(endpoint, {}, settings, { connections: 8, maxOperations: operations, rate: 0 });
    const leanCpu = processCpuSeconds() - cpu;
    const { profile } = (await session.post("Profiler.stop")) as { profile: { nodes: ProfileNode[] } };
    session.disconnect();

    const perMillion = (seconds: number) => ((seconds / operations) * 1e6).toFixed(2);
    console.log(
      `pipeline ${pipeline}, 8 connections, ${operations} GETs of ${VALUE_BYTES}-byte values over ${KEY_SPACE} keys, one client at a time on 127.0.0.1`,
    );
    console.log(
      markdownTable(
        ["client", "ops/s", "CPU s", "CPU s per M GETs"],
        [
          [
            "valkey-benchmark",
            reference.opsPerSecond,
            reference.cpuSeconds.toFixed(2),
            perMillion(reference.cpuSeconds),
          ],
          [
            "lean generator (1 thread, profiled)",
            Math.round(lean.operations / lean.seconds),
            leanCpu.toFixed(2),
            perMillion(leanCpu),
          ],
        ],
      ),
    );
    const bySelf = new Map<string, number>();
    let total = 0;
    for (const node of profile.nodes) {
      const hits = node.hitCount ?? 0;
      // Waiting for the socket is not CPU.
      if (hits === 0 || node.callFrame.functionName === "(idle)") continue;
      const { functionName, url, lineNumber } = node.callFrame;
      const where = url ? `${url.split("/").slice(-2).join("/")}:${lineNumber + 1}` : "native";
      const key = `${functionName || "(anonymous)"} (${where})`;
      bySelf.set(key, (bySelf.get(key) ?? 0) + hits);
      total += hits;
    }
    const rows = [...bySelf.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, hits]) => [name, `${((hits / total) * 100).toFixed(1)} %`]);
    console.log(`\nthe lean generator's CPU samples by function (self time, ${total} samples):`);
    console.log(markdownTable(["function", "share"], rows));
  } finally {
    await remove();
  }
});
