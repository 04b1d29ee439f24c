import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { onProcessEnd } from "./exit.ts";
import { processAlive } from "./process.ts";

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
 * A new directory under the system's temporary folder, removed when the process ends
 * (normally, on an uncaught error, or by a signal: src/exit.ts) or by `removeScratchDirs`:
 * runs must not pile up copies of the chart in /tmp.
 */
export function scratchDir(prefix: string): string {
  onProcessEnd("scratch directories", removeScratchDirs);
  const dir = mkdtempSync(join(tmpdir(), `${SCRATCH_PREFIX}${prefix}`));
  scratchDirs.add(dir);
  return dir;
}

/** Removes every scratch directory made so far (test runners call it after each file: their workers are killed, not exited). */
export function removeScratchDirs(): void {
  for (const dir of scratchDirs) rmSync(dir, { recursive: true, force: true });
  scratchDirs.clear();
}

/** Fills in progress in this process: their half-made directories are removed if it ends first. */
const fillsInProgress = new Set<string>();

/**
 * Makes the directory `target` once, for every process that asks at the same time: `fill`
 * writes into a fresh sibling directory, which is then renamed into place in one step. A
 * reader sees no `target` or a whole one, never a half-written file; when several
 * processes fill at once, the first rename wins and the others use it. `ready` tells a
 * complete target (default: it exists).
 */
export async function fillOnce(
  target: string,
  fill: (dir: string) => Promise<void> | void,
  ready: (dir: string) => boolean = existsSync,
): Promise<string> {
  if (ready(target)) return target;
  mkdirSync(dirname(target), { recursive: true });
  const scratch = mkdtempSync(join(dirname(target), `.${basename(target)}.filling-`));
  fillsInProgress.add(scratch);
  onProcessEnd("half-made cache entries", removeFillsInProgress);
  try {
    await fill(scratch);
    if (!ready(scratch)) throw new Error(`filling ${target} finished without a complete result in ${scratch}`);
    try {
      renameSync(scratch, target);
    } catch (error) {
      // Another process renamed its copy first (the target exists and is not empty): use theirs.
      if (!ready(target)) throw error;
    }
    return target;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
    fillsInProgress.delete(scratch);
  }
}

function removeFillsInProgress(): void {
  for (const dir of fillsInProgress) rmSync(dir, { recursive: true, force: true });
  fillsInProgress.clear();
}

/** Writes a file by writing a sibling and renaming it over `file`: readers see the old content or the new, whole. */
export function writeFileAtomic(file: string, content: string, mode?: number): void {
  mkdirSync(dirname(file), { recursive: true });
  const scratch = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  try {
    writeFileSync(scratch, content, mode === undefined ? undefined : { mode });
    renameSync(scratch, file);
  } finally {
    rmSync(scratch, { force: true });
  }
}

function olderThan(path: string, ms: number): boolean {
  try {
    return Date.now() - statSync(path).mtimeMs > ms;
  } catch {
    return false;
  }
}

/**
 * Runs `work` while holding the lock directory `lock` (made atomically by mkdir, with the
 * holder's pid inside): for first-use work too large to do twice, such as an image build.
 * A lock whose holder is gone is taken over; `waiting` is called once if another process
 * holds it.
 */
export async function withLock<T>(
  lock: string,
  work: () => Promise<T>,
  waiting?: (holder: string) => void,
): Promise<T> {
  mkdirSync(dirname(lock), { recursive: true });
  let told = false;
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, "pid"), String(process.pid));
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const holder = (() => {
        try {
          return readFileSync(join(lock, "pid"), "utf8").trim();
        } catch {
          return "";
        }
      })();
      const abandoned = holder ? !processAlive(Number(holder)) : olderThan(lock, 10_000);
      if (abandoned) {
        // Moved aside first, in one step: of two waiters that saw it abandoned, one moves it,
        // and the other's move fails instead of removing the lock the first then takes.
        const aside = `${lock}.abandoned-${process.pid}-${Math.random().toString(36).slice(2)}`;
        try {
          renameSync(lock, aside);
          rmSync(aside, { recursive: true, force: true });
        } catch {
          // another waiter moved it
        }
        continue;
      }
      if (!told && waiting) waiting(holder || "?");
      told = true;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
  const release = () => {
    try {
      if (readFileSync(join(lock, "pid"), "utf8").trim() === String(process.pid)) rmSync(lock, { recursive: true });
    } catch {
      // already released
    }
  };
  onProcessEnd(`lock ${basename(lock)}`, release);
  try {
    return await work();
  } finally {
    release();
  }
}
