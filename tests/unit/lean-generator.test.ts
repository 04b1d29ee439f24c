import { describe, expect, test } from "vitest";
import { benchKey } from "../../src/bench/accounting.ts";
import { encodeCommand, encodedPipelines, ReplyCounter, ringSize } from "../../src/bench/lean.ts";

const value = "x".repeat(256);
const replies = Buffer.from(
  `$256\r\n${value}\r\n$-1\r\n-NOREPLICAS Not enough good replicas\r\n+OK\r\n:12\r\n$3\r\nabc\r\n`,
);

describe("the lean generator's wire format", () => {
  test("encodes a command in RESP", () => {
    expect(encodeCommand(["GET", "key:000000000007"]).toString()).toBe(
      "*2\r\n$3\r\nGET\r\n$16\r\nkey:000000000007\r\n",
    );
  });

  test("a GET of a benchmark key is 36 bytes (a shorter last pipeline is a prefix), and the ring draws every key about four times", () => {
    expect(encodeCommand(["GET", benchKey(123)]).length).toBe(36);
    expect(ringSize(10_000, 1)).toBe(40_000);
    expect(ringSize(10_000, 16)).toBe(2_500);
    expect(ringSize(100, 16)).toBe(512);
  });

  test("pre-encodes pipelines of GETs over the key space, valkey-benchmark's key names", () => {
    const ring = encodedPipelines(100, 16, 4);
    expect(ring).toHaveLength(4);
    const text = ring[0]?.toString() ?? "";
    expect(text.match(/\*2\r\n\$3\r\nGET\r\n\$16\r\nkey:0000000000\d\d\r\n/g)).toHaveLength(16);
  });

  test("counts every reply however the stream is cut: bulk strings skipped by length, misses and errors by kind", () => {
    for (let cut = 1; cut < replies.length; cut++) {
      const counter = new ReplyCounter();
      const counted = counter.feed(replies.subarray(0, cut)) + counter.feed(replies.subarray(cut));
      expect(counted, `cut at ${cut}`).toBe(6);
      expect(counter.misses).toBe(1);
      expect(counter.errors).toEqual({ NOREPLICAS: 1 });
    }
    const byteByByte = new ReplyCounter();
    let total = 0;
    for (const byte of replies) total += byteByByte.feed(Buffer.from([byte]));
    expect(total).toBe(6);
  });

  test("refuses a reply type a GET cannot return, or a garbled length, instead of miscounting", () => {
    expect(() => new ReplyCounter().feed(Buffer.from("*2\r\n"))).toThrow(/unexpected RESP reply type \*/);
    expect(() => new ReplyCounter().feed(Buffer.from("$2x\r\nab\r\n"))).toThrow(/bulk string with length 2x/);
  });
});
