import { parentPort, workerData } from "node:worker_threads";
import type { Credentials, Endpoint } from "../valkey/index.ts";
import { closedLoop, type LoadSettings } from "./load.ts";

/** One thread's share of a load (see runLoad). */
const { endpoint, credentials, settings, connections, operations } = workerData as {
  endpoint: Endpoint;
  credentials: Credentials;
  settings: LoadSettings;
  connections: number;
  operations: number;
};
parentPort?.postMessage(await closedLoop(endpoint, credentials, settings, connections, operations));
