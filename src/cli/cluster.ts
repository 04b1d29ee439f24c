/**
 * npm run cluster -- up | down: a cluster that outlives the command, to run the suites
 * against as a cluster of your own (VALKEY_KUBECONFIG).
 */
import { CLOUD_CLASSES } from "../cluster/drivers.ts";
import { removeKeptClusters, startKeptCluster } from "../cluster/kept.ts";
import { type CommandSpec, fail, parseCommandLine, runMain, wholeOption } from "./args.ts";

const spec: CommandSpec = {
  invocation: "npm run cluster --",
  positionals: "up | down",
  description:
    "up: starts a cluster of the offline node image that stays after the command ends, with every workload image on every node and, with --drivers, cloud disk drivers served under their real names by local-path-provisioner instances (and the StorageClass each cloud offers: standard-rwo, gp3, managed-csi). Prints only the kubeconfig's path on stdout. down: removes every cluster `up` started (containers, volumes, network).",
  options: {
    agents: { value: "N", description: "nodes that join the server", default: "3" },
    drivers: {
      value: "LIST",
      description: `comma-separated provisioner names to serve (known clouds: ${Object.keys(CLOUD_CLASSES).join(", ")})`,
    },
    kubeconfig: {
      value: "FILE",
      description: "where to write the kubeconfig",
      default: "<cache>/clusters/kept.kubeconfig",
    },
  },
  epilogue: [
    "example:",
    "  kubeconfig=$(npm run --silent cluster -- up --drivers pd.csi.storage.gke.io,ebs.csi.aws.com,disk.csi.azure.com)",
    "  VALKEY_KUBECONFIG=$kubeconfig npm run test:install",
    "  npm run cluster -- down",
  ],
};

const { options, positionals } = parseCommandLine(spec);
const [command] = positionals;
if (positionals.length !== 1 || (command !== "up" && command !== "down")) fail(spec, "say up or down");
runMain(async () => {
  if (command === "down") {
    await removeKeptClusters();
    return;
  }
  const drivers = typeof options.drivers === "string" ? options.drivers.split(",").map((d) => d.trim()) : [];
  if (drivers.some((d) => !/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(\/[a-z0-9.-]+)?$/.test(d)))
    fail(spec, `--drivers ${options.drivers}: give provisioner names such as pd.csi.storage.gke.io, comma-separated`);
  const path = await startKeptCluster({
    agents: wholeOption(spec, "agents", options.agents, 0, 8, 3),
    drivers,
    kubeconfigPath: typeof options.kubeconfig === "string" ? options.kubeconfig : undefined,
  });
  console.log(path);
});
