/** npm run helm: builds (when needed) and names the Helm the harness runs. */
import { Helm, type HelmChoice, HelmUnavailable } from "../chart/helm.ts";
import { setting } from "../settings.ts";
import { type CommandSpec, fail, parseCommandLine } from "./args.ts";

const spec: CommandSpec = {
  invocation: "npm run helm --",
  description:
    "Resolves the Helm the harness runs (VALKEY_HELM, auto when unset; or the choices given), building the releases pinned in tools/helm/go.mod from their Go modules when they are not in the harness's cache yet, and prints one line per choice: the choice, the version, the binary.",
  options: {
    choices: { value: "LIST", description: "comma-separated choices among auto, 4, 3, path (default: VALKEY_HELM)" },
    path: { description: "print only the binaries' paths, one per line (for scripts)" },
  },
};

const { options } = parseCommandLine(spec);
const known: readonly HelmChoice[] = ["auto", "4", "3", "path"];
const choices =
  typeof options.choices === "string" ? options.choices.split(",").map((c) => c.trim()) : [setting("VALKEY_HELM")];
for (const choice of choices) {
  if (!known.includes(choice as HelmChoice)) fail(spec, `--choices: "${choice}" is not one of ${known.join(", ")}`);
}
try {
  for (const choice of choices) {
    const helm = await Helm.resolve(choice as HelmChoice);
    console.log(options.path ? helm.binary : `${choice}\t${helm.version}\t${helm.binary}`);
  }
} catch (error) {
  if (!(error instanceof HelmUnavailable)) throw error;
  console.error(error.message);
  process.exit(1);
}
