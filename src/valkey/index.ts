import { createHash } from "node:crypto";
import { Socket } from "node:net";
import { connect as connectTls } from "node:tls";
import { Redis } from "ioredis";

export interface Endpoint {
  host: string;
  port: number;
}

/**
 * TLS as a client speaks it: the CA it verifies the server against, the name it expects in
 * the server's certificate (the host is 127.0.0.1 through a port-forward), and a client
 * certificate where the server requires one.
 */
export interface ClientTls {
  ca: string;
  servername: string;
  cert?: string;
  key?: string;
}

export interface Credentials {
  username?: string;
  password?: string;
  /** Set when the release serves TLS only. */
  tls?: ClientTls;
}

/**
 * An ioredis client for tests: no automatic reconnect loops, bounded connect and
 * command timeouts, so a dead endpoint fails a check instead of hanging it.
 */
export function connect(endpoint: Endpoint, credentials: Credentials = {}, name = "valkey-harness"): Redis {
  const client = new Redis({
    host: endpoint.host,
    port: endpoint.port,
    username: credentials.username,
    password: credentials.password,
    ...(credentials.tls ? { tls: { ...credentials.tls } } : {}),
    connectionName: name,
    lazyConnect: true,
    connectTimeout: 5_000,
    commandTimeout: 10_000,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  // A failed connection or handshake also rejects connect() and every command, where the
  // caller sees it; without a listener ioredis prints each as an "Unhandled error event".
  client.on("error", () => {});
  return client;
}

/**
 * Sends a raw PING and resolves with the first reply line (+PONG, or -NOAUTH when
 * authentication is on); rejects when nothing answers within `timeoutMs`. Proves the
 * whole path works, not just that a proxy in front accepted the connection.
 */
export function rawPing(endpoint: Endpoint, timeoutMs = 3_000, tls?: ClientTls): Promise<string> {
  return rawCommand(endpoint, ["PING"], timeoutMs, tls);
}

/**
 * Sends one command on a fresh connection (TLS when `tls` is given) and resolves with the
 * first reply line, e.g. -WRONGPASS ...; rejects on a failed connection or handshake.
 */
export function rawCommand(endpoint: Endpoint, args: string[], timeoutMs = 3_000, tls?: ClientTls): Promise<string> {
  const request = `*${args.length}\r\n${args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join("")}`;
  return new Promise((resolve, reject) => {
    const socket = tls
      ? connectTls({ host: endpoint.host, port: endpoint.port, ...tls }, () => socket.write(request))
      : new Socket();
    const fail = (error: Error) => {
      socket.destroy();
      reject(error);
    };
    socket.setTimeout(timeoutMs, () =>
      fail(new Error(`no reply from ${endpoint.host}:${endpoint.port} in ${timeoutMs} ms`)),
    );
    socket.once("error", fail);
    socket.once("close", () => fail(new Error(`${endpoint.host}:${endpoint.port} closed the connection`)));
    socket.on("data", (data) => {
      socket.removeAllListeners("close");
      socket.destroy();
      resolve(data.toString("utf8").split("\r\n")[0] ?? "");
    });
    if (!tls) socket.connect(endpoint.port, endpoint.host, () => socket.write(request));
  });
}

/** Connects, runs `use`, and always disconnects. */
export async function withClient<T>(
  endpoint: Endpoint,
  credentials: Credentials,
  use: (client: Redis) => Promise<T>,
): Promise<T> {
  const client = connect(endpoint, credentials);
  try {
    await client.connect();
    return await use(client);
  } finally {
    client.disconnect();
  }
}

/** INFO output as a flat map of field -> value. */
export function parseInfo(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    if (!line || line.startsWith("#")) continue;
    const separator = line.indexOf(":");
    if (separator > 0) fields[line.slice(0, separator)] = line.slice(separator + 1);
  }
  return fields;
}

export async function replicationInfo(client: Redis): Promise<Record<string, string>> {
  return parseInfo(await client.info("replication"));
}

/** A deterministic dataset: `count` keys under `prefix` whose values derive from their index. */
export interface Dataset {
  prefix: string;
  count: number;
  checksum: string;
}

function datasetValue(prefix: string, index: number): string {
  return createHash("sha256").update(`${prefix}:${index}`).digest("hex").repeat(4);
}

/** Writes a dataset through pipelines and returns it with its checksum. */
export async function writeDataset(client: Redis, prefix: string, count: number): Promise<Dataset> {
  const hash = createHash("sha256");
  for (let start = 0; start < count; start += 500) {
    const pipeline = client.pipeline();
    for (let i = start; i < Math.min(count, start + 500); i++) {
      const value = datasetValue(prefix, i);
      pipeline.set(`${prefix}:${i}`, value);
      hash.update(`${prefix}:${i}=${value}\n`);
    }
    const results = await pipeline.exec();
    const failed = results?.find(([error]) => error);
    if (failed) throw failed[0];
  }
  return { prefix, count, checksum: hash.digest("hex") };
}

/** Reads a dataset back and returns its checksum plus how many keys are missing or wrong. */
export async function readDataset(
  client: Redis,
  dataset: Pick<Dataset, "prefix" | "count">,
): Promise<{ checksum: string; missing: number; wrong: number }> {
  const hash = createHash("sha256");
  let missing = 0;
  let wrong = 0;
  for (let start = 0; start < dataset.count; start += 500) {
    const keys = Array.from(
      { length: Math.min(dataset.count, start + 500) - start },
      (_, j) => `${dataset.prefix}:${start + j}`,
    );
    const values = await client.mget(keys);
    values.forEach((value, j) => {
      const index = start + j;
      if (value === null) missing++;
      else if (value !== datasetValue(dataset.prefix, index)) wrong++;
      hash.update(`${dataset.prefix}:${index}=${value ?? ""}\n`);
    });
  }
  return { checksum: hash.digest("hex"), missing, wrong };
}

/** What `fillMemory` wrote and where used memory ended. */
export interface MemoryFill {
  keys: string[];
  usedBytes: number;
  maxmemory: number;
}

/**
 * Writes values of `valueBytes` under `prefix` until the server's used memory reaches
 * `share` of its maxmemory (bounded: never more keys than maxmemory / valueBytes), then
 * returns the keys. Fails on a server without maxmemory.
 */
export async function fillMemory(
  client: Redis,
  prefix: string,
  share: number,
  valueBytes = 256 * 1024,
): Promise<MemoryFill> {
  const [, max] = (await client.config("GET", "maxmemory")) as [string, string];
  const maxmemory = Number(max);
  if (!(maxmemory > 0)) throw new Error(`maxmemory is ${max}: there is no limit to fill up to`);
  const used = async () => Number(parseInfo(await client.info("memory")).used_memory);
  const value = "m".repeat(valueBytes);
  const keys: string[] = [];
  let usedBytes = await used();
  while (usedBytes < share * maxmemory) {
    if (keys.length > maxmemory / valueBytes) {
      throw new Error(
        `wrote ${keys.length} values of ${valueBytes} bytes and used memory is still ${usedBytes} of ${maxmemory}`,
      );
    }
    // Small steps near the target, so that it stops short of maxmemory.
    const batch = Math.max(1, Math.min(16, Math.floor((share * maxmemory - usedBytes) / valueBytes)));
    const pipeline = client.pipeline();
    for (let i = 0; i < batch; i++) {
      const key = `${prefix}:${keys.length}`;
      keys.push(key);
      pipeline.set(key, value);
    }
    const failed = (await pipeline.exec())?.find(([error]) => error);
    if (failed) throw failed[0];
    usedBytes = await used();
  }
  return { keys, usedBytes, maxmemory };
}

/** Parses Prometheus text exposition into metric samples (name with labels -> value). */
export function parseMetrics(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const match = /^(\S+?(?:\{.*\})?)\s+(\S+)/.exec(line);
    if (match?.[1] && match[2] !== undefined) samples.set(match[1], Number(match[2]));
  }
  return samples;
}

/** The first sample of a metric whose name matches and whose labels contain `labels`. */
export function metricValue(samples: Map<string, number>, name: string, labels: Record<string, string> = {}) {
  for (const [key, value] of samples) {
    const [metric] = key.split("{");
    if (metric !== name) continue;
    if (Object.entries(labels).every(([label, expected]) => key.includes(`${label}="${expected}"`))) return value;
  }
  return undefined;
}

/** A Valkey error's code (NOREPLICAS, NOAUTH, ...), CONNECTION for transport failures, else the message's start. */
export function errorKind(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const code = /^([A-Z]{3,})\b/.exec(message)?.[1];
  if (code) return code;
  if (/closed|ECONNRESET|EPIPE|ECONNREFUSED|connect|timed? ?out|not connected/i.test(message)) return "CONNECTION";
  return message.slice(0, 60);
}
