/** npm run images: builds the offline images unless the current inputs were built already. */
import { ensureImages } from "../images/index.ts";
import { type CommandSpec, parseCommandLine, runMain } from "./args.ts";

const spec: CommandSpec = {
  invocation: "npm run images --",
  description:
    "Builds the offline node, Valkey, exporter and helper images from the pinned inputs in fixtures/images/ (Go modules, Debian packages), unless images of the current inputs exist. Needs a Docker engine, Go, gcc and debootstrap.",
  options: {},
};

parseCommandLine(spec);
runMain(async () => {
  const started = performance.now();
  const images = await ensureImages();
  console.log(JSON.stringify(images, null, 2));
  console.log(`[images] ready in ${((performance.now() - started) / 1000).toFixed(1)} s`);
});
