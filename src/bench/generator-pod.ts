/**
 * The lean generator as it runs inside a pod of the cluster (bundled into the generator
 * image by generator-image.ts; started by in-cluster.ts as an Indexed Job). Its
 * configuration comes in VALKEY_GENERATOR (JSON), its share by JOB_COMPLETION_INDEX; its
 * result, with the raw HDR histogram for an exact merge, is the last line it prints.
 */
import { cpuUsage } from "node:process";
import type { GeneratorConfig, GeneratorResult } from "./in-cluster.ts";
import { runLeanShare } from "./lean.ts";

/** What in-cluster.ts looks for in the log (the same literal there: importing it would bundle the Kubernetes client). */
const RESULT_PREFIX = "GENERATOR_RESULT ";

const config = JSON.parse(process.env.VALKEY_GENERATOR ?? "{}") as GeneratorConfig;
const index = Number(process.env.JOB_COMPLETION_INDEX ?? "0");
const share = config.shares?.[index];
if (!share) {
  console.error(`no share for JOB_COMPLETION_INDEX=${process.env.JOB_COMPLETION_INDEX} in VALKEY_GENERATOR`);
  process.exit(2);
}
const cpu = cpuUsage();
const part = await runLeanShare(config.endpoint, config.credentials, config.settings, share, () => {}, config.startAt);
const used = cpuUsage(cpu);
const result: GeneratorResult = {
  ...part,
  index,
  node: process.env.NODE_NAME ?? "",
  cpuSeconds: (used.user + used.system) / 1e6,
};
console.log(RESULT_PREFIX + JSON.stringify(result));
