import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Every file below `dir`, sorted, as full paths. */
export function listFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) => (entry.isDirectory() ? listFiles(join(dir, entry.name)) : [join(dir, entry.name)]))
    .sort();
}

/** Every scratch directory's name starts so: `.ci/run` looks for any left behind. */
export const SCRATCH_PREFIX = "valkey-harness-";
const scratchDirs = new Set<string>();

/**
 * A new directory under the system's temporary folder, removed when the process exits
 * (normally, on an uncaught error, or through the cleanup module's signal handlers, which
 * exit) or by `removeScratchDirs`: runs must not pile up copies of the chart in /tmp.
 */
export function scratchDir(prefix: string): string {
  if (scratchDirs.size === 0) process.once("exit", removeScratchDirs);
  const dir = mkdtempSync(join(tmpdir(), `${SCRATCH_PREFIX}${prefix}`));
  scratchDirs.add(dir);
  return dir;
}

/** Removes every scratch directory made so far (test runners call it after each file: their workers are killed, not exited). */
export function removeScratchDirs(): void {
  for (const dir of scratchDirs) rmSync(dir, { recursive: true, force: true });
  scratchDirs.clear();
}
