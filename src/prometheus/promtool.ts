import { dirname, join } from "node:path";
import { builtImages } from "../images/index.ts";
import { run, runOrThrow } from "../process.ts";

/** Where promtool comes from: the one on PATH, else the offline Prometheus image, else prom/prometheus. */
export interface Promtool {
  /** Runs promtool in `dir` (files named relative to it); resolves with its output or throws it. */
  run(dir: string, args: string[]): Promise<string>;
  describe: string;
}

/** The upstream image to use on a connected machine without the offline images: the version the build pins. */
const UPSTREAM_IMAGE = "prom/prometheus:v3.16.0";

export async function findPromtool(): Promise<Promtool | undefined> {
  if ((await run("sh", ["-c", "command -v promtool"])).code === 0) {
    return { describe: "promtool on PATH", run: (dir, args) => runOrThrow("promtool", args, { cwd: dir }) };
  }
  if ((await run("docker", ["info"]).catch(() => ({ code: 1 }))).code !== 0) return undefined;
  const image = (await builtImages())?.prometheus ?? UPSTREAM_IMAGE;
  return {
    describe: `promtool of ${image}`,
    run: (dir, args) =>
      runOrThrow("docker", [
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        `${dir}:/work:ro`,
        "-w",
        "/work",
        "--entrypoint",
        "promtool",
        image,
        ...args,
      ]),
  };
}

/** The directory and base name of a file, for promtool running in a container. */
export function splitPath(file: string): { dir: string; name: string } {
  return { dir: dirname(file), name: join(file).slice(dirname(file).length + 1) };
}
