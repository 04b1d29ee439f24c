/**
 * npm run registry -- up | down: a registry on 127.0.0.1 holding the harness's images
 * under their own names, the stand-in for a team's mirror (VALKEY_REGISTRY).
 */
import { startLocalRegistry, stopLocalRegistry } from "../images/registry.ts";
import { type CommandSpec, fail, parseCommandLine, runMain, wholeOption } from "./args.ts";

const spec: CommandSpec = {
  invocation: "npm run registry --",
  positionals: "up | down",
  description:
    "up: starts a plain-HTTP registry in a container published on 127.0.0.1 only (the offline crane image; blobs on its disk, manifests in memory) and pushes every image of the current build into it under its own name (kube-node, valkey, redis-exporter, busybox, prometheus, k8s/*). Prints only the VALKEY_REGISTRY value on stdout. down: removes the registry container.",
  options: {
    port: { value: "N", description: "port on 127.0.0.1", default: "5000" },
  },
  epilogue: [
    "example (the harness's cluster pulls every image from it; nothing is imported into the nodes):",
    "  registry=$(npm run --silent registry -- up)",
    "  VALKEY_IMAGES=registry VALKEY_REGISTRY=$registry npm run test:install",
    "  npm run registry -- down",
  ],
};

const { options, positionals } = parseCommandLine(spec);
const [command] = positionals;
if (positionals.length !== 1 || (command !== "up" && command !== "down")) fail(spec, "say up or down");
runMain(async () => {
  if (command === "down") {
    await stopLocalRegistry(console.error);
    return;
  }
  const registry = await startLocalRegistry(wholeOption(spec, "port", options.port, 1024, 65535, 5000), console.error);
  console.log(registry.address);
});
