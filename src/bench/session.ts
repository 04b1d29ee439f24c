import { randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import autocannon from "autocannon";
import type { Redis } from "ioredis";
import { type Credentials, connect, type Endpoint } from "../valkey/index.ts";
import { latencyHistogram, type Percentiles, percentiles, recordMillis } from "./histogram.ts";

/**
 * The session-storage use of Valkey, shaped like a web application's: an HTTP service
 * whose sessions live in Valkey with a sliding expiry.
 *
 *   POST /sessions       creates a session (SET session:<id> <json> EX ttl) -> 201 {"id"}
 *   GET  /sessions/<id>  reads it and renews its expiry (GETEX ... EX ttl)  -> 200 | 404
 */
export class SessionService {
  private readonly server: Server;
  private readonly valkey: Redis;
  readonly ttlSeconds: number;

  private constructor(server: Server, valkey: Redis, ttlSeconds: number) {
    this.server = server;
    this.valkey = valkey;
    this.ttlSeconds = ttlSeconds;
  }

  static async start(endpoint: Endpoint, credentials: Credentials, ttlSeconds = 1800): Promise<SessionService> {
    const valkey = connect(endpoint, credentials, "bench-sessions");
    // One connection with auto-pipelining: what a Node web service typically runs.
    Object.assign(valkey.options, { enableAutoPipelining: true });
    await valkey.connect();
    const server = createServer((request, response) => {
      const reply = (status: number, body: string) => {
        response.writeHead(status, { "content-type": "application/json" }).end(body);
      };
      const id = request.url?.match(/^\/sessions\/([\w-]+)$/)?.[1];
      if (request.method === "POST" && request.url === "/sessions") {
        const session = randomUUID();
        valkey
          .set(`session:${session}`, sessionDocument(session), "EX", ttlSeconds)
          .then(() => reply(201, JSON.stringify({ id: session })))
          .catch((error: Error) => reply(503, JSON.stringify({ error: error.message })));
      } else if (request.method === "GET" && id) {
        valkey
          .getex(`session:${id}`, "EX", ttlSeconds)
          .then((document) => (document ? reply(200, document) : reply(404, '{"error":"no such session"}')))
          .catch((error: Error) => reply(503, JSON.stringify({ error: error.message })));
      } else {
        reply(404, '{"error":"no such route"}');
      }
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return new SessionService(server, valkey, ttlSeconds);
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Creates `count` sessions directly in Valkey; returns their ids. */
  async preload(count: number): Promise<string[]> {
    const ids = Array.from({ length: count }, (_, i) => `preloaded-${i}`);
    for (let start = 0; start < ids.length; start += 1000) {
      const pipeline = this.valkey.pipeline();
      for (const id of ids.slice(start, start + 1000))
        pipeline.set(`session:${id}`, sessionDocument(id), "EX", this.ttlSeconds);
      await pipeline.exec();
    }
    return ids;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.valkey.disconnect();
  }
}

function sessionDocument(id: string): string {
  return JSON.stringify({ id, user: `user-${id.slice(-6)}`, roles: ["reader"], cart: [], createdAt: Date.now() });
}

export interface SessionLoadSettings {
  connections: number;
  /** Share of requests that read an existing session; the rest create one. */
  readRatio: number;
  sessions: number;
  maxRequests: number;
  maxSeconds: number;
}

export interface SessionLoadResult {
  requests: number;
  requestsPerSecond: number;
  latencyMicros: Percentiles;
  errors: Record<string, number>;
}

/** Drives the service with autocannon, bounded by requests and seconds. */
export async function runSessionLoad(
  service: SessionService,
  ids: string[],
  settings: SessionLoadSettings,
  progress: (completed: number) => void = () => {},
): Promise<SessionLoadResult> {
  let completed = 0;
  const histogram = latencyHistogram();
  let ticker: NodeJS.Timeout | undefined;
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: service.url,
        connections: settings.connections,
        amount: settings.maxRequests,
        duration: settings.maxSeconds,
        requests: [
          {
            setupRequest: (request) =>
              Math.random() < settings.readRatio
                ? { ...request, method: "GET", path: `/sessions/${ids[Math.floor(Math.random() * ids.length)]}` }
                : { ...request, method: "POST", path: "/sessions" },
          },
        ],
      },
      (error, done) => (error ? reject(error) : resolve(done)),
    );
    // autocannon's own histogram keeps whole milliseconds; the response time it passes
    // here is exact, so percentiles come from a microsecond histogram of our own.
    instance.on("response", (_client, _status, _bytes, responseTimeMillis: number) => {
      completed++;
      recordMillis(histogram, responseTimeMillis);
    });
    ticker = setInterval(() => progress(completed), 1000);
  }).finally(() => clearInterval(ticker));
  const errors: Record<string, number> = {};
  if (result.non2xx) errors.non2xx = result.non2xx;
  if (result.errors) errors.connection = result.errors;
  if (result.timeouts) errors.timeout = result.timeouts;
  const seconds = result.duration;
  const latencyMicros = percentiles(histogram);
  histogram.destroy();
  return {
    requests: result.requests.total,
    requestsPerSecond: Math.round(result.requests.total / seconds),
    latencyMicros,
    errors,
  };
}
