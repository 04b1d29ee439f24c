import { describe, expect, test } from "vitest";
import { inWords } from "../../src/report/index.ts";

describe("a report's cell in words", () => {
  test("names each measure with its unit instead of printing JSON", () => {
    expect(
      inWords({
        for: 10,
        firedAfterSeconds: 12.3,
        maxmemory: 187904819,
        filledToBytes: 176000000,
        restart: { podBackAfterSeconds: 13.1, alertLooksFailed: 0 },
        lost: [],
        resolvedAfterSeconds: undefined,
      }),
    ).toBe(
      "for: 10; fired after: 12.3 s; maxmemory: 187,904,819; filled to: 176,000,000 bytes; restart: (pod back after: 13.1 s; alert looks failed: 0); lost: none; resolved after: none",
    );
  });
});
