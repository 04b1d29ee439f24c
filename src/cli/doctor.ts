/** npm run doctor: what this machine can do for the harness, each problem with its fix. */
import { diagnose, formatFindings } from "../doctor.ts";
import { type CommandSpec, parseCommandLine, runMain } from "./args.ts";

const spec: CommandSpec = {
  invocation: "npm run doctor --",
  description:
    "Reports Node.js, the Docker engine (version, root or rootless), whether the offline images can be built here (Go, gcc, debootstrap, root), where VALKEY_IMAGES=auto would take the images from and why, Helm and its architecture, the cached upstream charts, and free disk, memory and cores against what a run needs. Builds, pulls and starts nothing. Exits 1 when the suites cannot run here, each failure with its fix.",
  options: {},
};

parseCommandLine(spec);
runMain(async () => {
  const findings = await diagnose();
  console.log(formatFindings(findings));
  const failed = findings.filter((f) => f.status === "fail");
  console.log(
    failed.length === 0
      ? "\nthis machine can run the suites (npm test)"
      : `\nthis machine cannot run the suites yet: ${failed.map((f) => f.topic).join(", ")}`,
  );
  if (failed.length > 0) process.exitCode = 1;
});
