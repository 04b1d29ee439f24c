/**
 * npm run chart:package -- [--destination DIR] [--push oci://host/path]: the wrapper packaged
 * with its pinned upstream chart, and pushed to an OCI registry (release.yml; .ci/run pushes
 * it to the registry on 127.0.0.1 and installs what it pulls back).
 */
import { resolve } from "node:path";
import { Helm } from "../chart/helm.ts";
import { formatChartReference, packageChart, pushChart } from "../chart/package.ts";
import { type CommandSpec, fail, parseCommandLine, runMain } from "./args.ts";

const spec: CommandSpec = {
  invocation: "npm run chart:package --",
  description:
    "Packages charts/valkey with its pinned upstream chart inside (the chart cache's copy, or pulled on a connected machine) into a .tgz. With --push, pushes it to an OCI repository (plain HTTP for a registry on 127.0.0.1 or localhost, TLS otherwise; log in first with `helm registry login`) and prints the pushed reference, oci://…/valkey:<version>, alone on stdout: the value VALKEY_CHART takes.",
  options: {
    destination: { value: "DIR", description: "where the .tgz is written", default: "reports/" },
    push: { value: "REPOSITORY", description: "an OCI repository, oci://host[:port]/path" },
  },
  epilogue: [
    "example (the install suite installs what it pulls back from the local registry):",
    "  registry=$(npm run --silent registry -- up)",
    "  chart=$(npm run --silent chart:package -- --push oci://$registry/charts)",
    "  VALKEY_CHART=$chart npm run test:install",
  ],
};

const { options } = parseCommandLine(spec);
const repository = options.push;
if (repository !== undefined && (typeof repository !== "string" || !/^oci:\/\/[^/]+/.test(repository))) {
  fail(spec, `--push ${String(repository)} is not valid: give an OCI repository, e.g. oci://127.0.0.1:5000/charts`);
}
const destination = resolve(typeof options.destination === "string" ? options.destination : "reports");

runMain(async () => {
  const helm = await Helm.fromSettings();
  const pkg = await packageChart(helm, destination);
  console.error(`[chart] packaged ${pkg.name} ${pkg.version} into ${pkg.file} with ${helm}`);
  if (typeof repository === "string") {
    const pushed = await pushChart(helm, pkg, repository);
    console.error(`[chart] pushed to ${formatChartReference(pushed)}`);
    console.log(formatChartReference(pushed));
  } else {
    console.log(pkg.file);
  }
});
