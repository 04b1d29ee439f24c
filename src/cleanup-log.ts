import { appendFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { cacheDir } from "./settings.ts";

/** Where cleanup failures of a run are collected; .ci/run prints them in its leftovers section and fails. */
export function cleanupFailureLog(): string {
  return join(cacheDir(), "cleanup-failures.log");
}

/** Reports a failed cleanup on stderr and in the run's cleanup log: nothing left behind goes unsaid. */
export function reportCleanupFailure(what: string): void {
  const line = `${new Date().toISOString()} pid ${process.pid}: ${what}`;
  console.error(`[cleanup] FAILED: ${what}`);
  try {
    mkdirSync(cacheDir(), { recursive: true });
    appendFileSync(cleanupFailureLog(), `${line}\n`);
  } catch {
    // stderr above already carries it
  }
}
