import { Socket } from "node:net";
import { connect as connectTls } from "node:tls";
import { encodeIntoCompressedBase64 } from "hdr-histogram-js";
import type { Credentials, Endpoint } from "../valkey/index.ts";
import { benchKey } from "./accounting.ts";
import { latencyHistogram, recordMillis } from "./histogram.ts";
import type { LoadSettings, LoadShare, ShareResult } from "./load.ts";

/**
 * The lean generator: what a closed loop of GETs costs a client that does nothing else.
 * Commands are encoded once into buffers (a ring of pipelines over random keys), written
 * to raw sockets, and replies are only counted by a minimal RESP parser that skips bulk
 * strings by their length, never decoding a value. It is the path for the client's
 * limit; the ioredis path stays for what applications see.
 */

/** Pipelines encoded ahead per connection (at least): random keys without a random number per command. */
const RING = 512;

/** Bytes of one GET of a benchKey in RESP: `*2\r\n$3\r\nGET\r\n$16\r\nkey:` + 12 digits + `\r\n`. */
const GET_BYTES = 36;

/** Pipelines to encode so that every key is drawn about four times: the key space covered as by a draw per command. */
export function ringSize(keySpace: number, pipeline: number): number {
  return Math.max(RING, Math.ceil((4 * keySpace) / pipeline));
}

/** One command in RESP, as bytes. */
export function encodeCommand(args: string[]): Buffer {
  return Buffer.from(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join("")}`);
}

/** A ring of `count` pipelines of `pipeline` GETs each over keys picked uniformly from the key space. */
export function encodedPipelines(keySpace: number, pipeline: number, count = RING): Buffer[] {
  return Array.from({ length: count }, () =>
    Buffer.concat(
      Array.from({ length: pipeline }, () => encodeCommand(["GET", benchKey(Math.floor(Math.random() * keySpace))])),
    ),
  );
}

/**
 * Counts complete RESP replies in a stream fed in chunks: simple strings, errors, integers,
 * bulk strings (skipped by length; -1 is a miss) and nothing else a GET returns. Errors are
 * counted by their first word.
 */
export class ReplyCounter {
  private pending = Buffer.alloc(0);
  /** Bytes of a bulk string's body (and its CRLF) still to skip. */
  private skip = 0;
  misses = 0;
  readonly errors: Record<string, number> = {};

  /** Feeds a chunk; returns how many replies it completed. */
  feed(chunk: Buffer): number {
    let data = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    let replies = 0;
    let at = 0;
    if (this.skip > 0) {
      const skipped = Math.min(this.skip, data.length);
      this.skip -= skipped;
      at = skipped;
      if (this.skip === 0) replies++;
    }
    while (at < data.length && this.skip === 0) {
      const end = data.indexOf(13, at);
      if (end === -1 || end + 1 >= data.length) break;
      const type = data[at];
      if (type === 36) {
        const length = Number(data.toString("latin1", at + 1, end));
        if (!Number.isInteger(length))
          throw new Error(`a bulk string with length ${data.toString("latin1", at + 1, end)}`);
        at = end + 2;
        if (length < 0) {
          this.misses++;
          replies++;
          continue;
        }
        const body = length + 2;
        if (data.length - at >= body) {
          at += body;
          replies++;
        } else {
          this.skip = body - (data.length - at);
          at = data.length;
        }
      } else {
        if (type === 45) {
          const kind = data.toString("latin1", at + 1, end).split(" ")[0] ?? "ERR";
          this.errors[kind] = (this.errors[kind] ?? 0) + 1;
        } else if (type !== 43 && type !== 58)
          throw new Error(`unexpected RESP reply type ${String.fromCharCode(type ?? 0)}`);
        at = end + 2;
        replies++;
      }
    }
    data = data.subarray(at);
    this.pending = this.skip > 0 ? Buffer.alloc(0) : Buffer.from(data);
    return replies;
  }
}

function open(endpoint: Endpoint, credentials: Credentials, timeoutMs = 5_000): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket: Socket = credentials.tls
      ? connectTls({ host: endpoint.host, port: endpoint.port, ...credentials.tls }, () => connected())
      : new Socket().connect(endpoint.port, endpoint.host, () => connected());
    const timer = setTimeout(
      () => socket.destroy(new Error(`no connection to ${endpoint.host}:${endpoint.port} in ${timeoutMs} ms`)),
      timeoutMs,
    );
    const failed = (error: Error) => {
      clearTimeout(timer);
      reject(error);
    };
    const connected = () => {
      clearTimeout(timer);
      socket.off("error", failed);
      resolve(socket);
    };
    socket.setNoDelay(true);
    socket.once("error", failed);
  });
}

/** Sends AUTH when the credentials have a password and waits for its whole reply line (+OK). */
async function authenticate(socket: Socket, credentials: Credentials, timeoutMs = 5_000): Promise<void> {
  if (!credentials.password) return;
  const args = credentials.username
    ? ["AUTH", credentials.username, credentials.password]
    : ["AUTH", credentials.password];
  const reply = await new Promise<string>((resolve, reject) => {
    let received = "";
    const done = (error?: Error) => {
      clearTimeout(timer);
      socket.off("data", onData).off("error", done).off("close", onClose);
      if (error) reject(error);
      else resolve(received.split("\r\n")[0] ?? "");
    };
    const onData = (data: Buffer) => {
      received += data.toString("latin1");
      if (received.includes("\r\n")) done();
    };
    const onClose = () => done(new Error("the server closed the connection during AUTH"));
    const timer = setTimeout(() => done(new Error(`no answer to AUTH in ${timeoutMs} ms`)), timeoutMs);
    socket.on("data", onData).once("error", done).once("close", onClose);
    socket.write(encodeCommand(args));
  });
  if (reply !== "+OK") throw new Error(`AUTH answered ${reply}`);
}

/** One thread's share of a closed loop of GETs with the lean generator (the ShareResult of runShare). */
export async function runLeanShare(
  endpoint: Endpoint,
  credentials: Credentials,
  settings: LoadSettings,
  share: LoadShare,
  progress: (completed: number) => void = () => {},
  /** Connected, wait until this moment (epoch ms) before the first command: generators in several pods start together. */
  startAtEpochMs?: number,
): Promise<ShareResult> {
  if (settings.mode !== "closed" || settings.readRatio !== 1 || settings.distribution !== "uniform")
    throw new Error("the lean generator runs closed loops of GETs over a uniform key space only");
  const histogram = latencyHistogram();
  const errors: Record<string, number> = {};
  const sockets: Socket[] = [];
  // Encoded before the clock starts, as the ioredis path makes its key strings first; one
  // ring for the share's connections, each starting elsewhere in it (a ring per connection
  // cost as much CPU to encode as the load it drove: measure:lean-profile).
  const ring = encodedPipelines(settings.keySpace, settings.pipeline, ringSize(settings.keySpace, settings.pipeline));
  let issued = 0;
  let completed = 0;
  let started = performance.now();
  let startedAtEpochMs = Date.now();
  const ticker = setInterval(() => progress(completed), 1000);
  const closers: (() => void)[] = [];
  // A connection that fails between connecting and the load (while others connect, or
  // during the wait for a common start) is this run's error, not an uncaught one.
  let early: Error | undefined;
  const remember = (error: Error) => {
    early ??= error;
  };
  try {
    for (let i = 0; i < share.connections; i++) {
      const socket = await open(endpoint, credentials);
      sockets.push(socket);
      socket.on("error", remember);
      await authenticate(socket, credentials);
    }
    if (startAtEpochMs !== undefined) await new Promise((resolve) => setTimeout(resolve, startAtEpochMs - Date.now()));
    if (early) throw early;
    startedAtEpochMs = Date.now();
    started = performance.now();
    const deadline = started + settings.maxSeconds * 1000;
    await Promise.all(
      sockets.map(
        (socket, index) =>
          new Promise<void>((resolve, reject) => {
            const counter = new ReplyCounter();
            let next = Math.floor((index * ring.length) / sockets.length);
            let awaiting = 0;
            let batch = 0;
            let sent = 0;
            const onClose = () => reject(new Error("the server closed a connection during the load"));
            closers.push(() => socket.off("close", onClose));
            const sendNext = () => {
              batch = Math.min(settings.pipeline, share.maxOperations - issued);
              if (batch <= 0 || performance.now() >= deadline) return resolve();
              issued += batch;
              awaiting = batch;
              sent = performance.now();
              const pipeline = ring[next++ % ring.length] as Buffer;
              socket.write(batch === settings.pipeline ? pipeline : pipeline.subarray(0, batch * GET_BYTES));
            };
            socket.on("data", (chunk: Buffer) => {
              try {
                awaiting -= counter.feed(chunk);
              } catch (error) {
                return reject(error);
              }
              if (awaiting <= 0) {
                completed += batch;
                recordMillis(histogram, performance.now() - sent);
                for (const [kind, n] of Object.entries(counter.errors)) errors[kind] = (errors[kind] ?? 0) + n;
                for (const kind of Object.keys(counter.errors)) delete counter.errors[kind];
                sendNext();
              }
            });
            socket.once("error", reject);
            socket.once("close", onClose);
            if (socket.destroyed) return reject(new Error("a connection closed before the load started"));
            sendNext();
          }),
      ),
    );
  } finally {
    clearInterval(ticker);
    for (const close of closers) close();
    for (const socket of sockets) socket.destroy();
  }
  const elapsed = (performance.now() - started) / 1000;
  const encoded = encodeIntoCompressedBase64(histogram);
  histogram.destroy();
  return { operations: completed, seconds: elapsed, histogram: encoded, errors, startedAtEpochMs };
}
