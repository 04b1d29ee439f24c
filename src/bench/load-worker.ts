import { parentPort, workerData } from "node:worker_threads";
import type { Credentials, Endpoint } from "../valkey/index.ts";
import { type LoadSettings, type LoadShare, runShare } from "./load.ts";

/** One thread's share of a load (see runLoad): progress messages, then the result. */
const { endpoint, credentials, settings, share } = workerData as {
  endpoint: Endpoint;
  credentials: Credentials;
  settings: LoadSettings;
  share: LoadShare;
};
const result = await runShare(endpoint, credentials, settings, share, (completed) =>
  parentPort?.postMessage({ completed }),
);
parentPort?.postMessage({ result });
