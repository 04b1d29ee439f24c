import { parentPort, workerData } from "node:worker_threads";
import type { Credentials, Endpoint } from "../valkey/index.ts";
import { runLeanShare } from "./lean.ts";
import { type LoadEngine, type LoadSettings, type LoadShare, runShare } from "./load.ts";

/** One thread's share of a load (see runLoad): progress messages, then the result. */
const { endpoint, credentials, settings, share, engine } = workerData as {
  endpoint: Endpoint;
  credentials: Credentials;
  settings: LoadSettings;
  share: LoadShare;
  engine: LoadEngine;
};
const progress = (completed: number) => parentPort?.postMessage({ completed });
const result =
  engine === "lean"
    ? await runLeanShare(endpoint, credentials, settings, share, progress)
    : await runShare(endpoint, credentials, settings, share, progress);
parentPort?.postMessage({ result });
