/**
 * npm run test:upgrade: the upgrade suite, with its revisions given on the command line
 * (translated to the VALKEY_UPGRADE_* settings, validated there) and run through vitest.
 */
import { spawn } from "node:child_process";
import { onEndingSignal } from "../exit.ts";
import { checkSettings } from "../settings.ts";
import { resolveRevision } from "../upgrade/revision.ts";
import { type CommandSpec, fail, parseCommandLine } from "./args.ts";

const spec: CommandSpec = {
  invocation: "npm run test:upgrade --",
  description:
    "Installs each environment at one revision of the wrapper and upgrades it under load: a baseline rolling restart, each upgrade, and a rollback, with acknowledged writes counted, latency per second, the pods' restarts, the predicted rollout and the settings read back from the live pods. Without --from/--to it walks from the pinned upstream version through every cached later one. Report: reports/upgrade-matrix.{json,md,html}.",
  options: {
    from: {
      value: "REV",
      description:
        "where to start: an upstream version (0.9.4: the working tree's wrapper with that pin), a git ref (main, a tag, a commit: the wrapper as committed there), or worktree",
    },
    to: { value: "REV", description: "where to go, as --from; worktree is the working tree as it is now" },
    env: { value: "ENVS", description: "environments, comma-separated", default: "dev-01 (VALKEY_UPGRADE_ENVS)" },
    pairs: { description: "every cached upstream version to every later one, each from a fresh install (long)" },
  },
  epilogue: [
    "examples:",
    "  npm run test:upgrade -- --from origin/main --to worktree     what a pull request changes",
    "  npm run test:upgrade -- --from 0.9.0 --to 0.11.0 --env prod-01",
    "  npm run test:upgrade                                         the walk through every cached version",
  ],
};

const { options, positionals } = parseCommandLine(spec);
if (positionals.length > 0) fail(spec, `unexpected argument ${positionals[0]}: give revisions with --from and --to`);
if ((options.from === undefined) !== (options.to === undefined)) fail(spec, "give both --from and --to, or neither");
if (options.pairs && options.from) fail(spec, "--pairs walks every cached version: it does not take --from/--to");
const env: Record<string, string | undefined> = { ...process.env };
if (typeof options.from === "string" && typeof options.to === "string") {
  env.VALKEY_UPGRADE_FROM = options.from;
  env.VALKEY_UPGRADE_TO = options.to;
  // Unknown refs fail here, with git's answer, before a cluster starts.
  for (const [flag, value] of [
    ["--from", options.from],
    ["--to", options.to],
  ]) {
    await resolveRevision(value as string, flag as string).catch((error: Error) => fail(spec, error.message));
  }
}
if (typeof options.env === "string") env.VALKEY_UPGRADE_ENVS = options.env;
if (options.pairs) env.VALKEY_UPGRADE_PAIRS = "1";
try {
  checkSettings(env);
} catch (error) {
  fail(spec, error instanceof Error ? error.message : String(error));
}
// The walk of the plan (tests/upgrade/matrix.test.ts reads VALKEY_UPGRADE_*): its own project.
const child = spawn("npx", ["vitest", "run", "--project", "upgrade-matrix"], { stdio: "inherit", env });
// The suite removes its cluster on the signal it gets: pass ours on before this process ends.
onEndingSignal("the upgrade suite", (signal) => child.kill(signal));
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
