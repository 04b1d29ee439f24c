/**
 * Work that must happen however this process ends: a normal exit, an uncaught error, or
 * SIGINT / SIGTERM / SIGHUP (Ctrl-C, CI cancelling a job, a closed terminal). Every module
 * that leaves something behind it (containers, networks, scratch directories, child
 * processes) registers its synchronous cleanup here, once: one place decides how signals
 * end the process, so no module's handler can exit before another's has run.
 */

type Cleanup = () => void;

const SIGNALS = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 } as const;
export type EndingSignal = keyof typeof SIGNALS;

const cleanups = new Map<string, Cleanup>();
const signalCleanups = new Map<string, (signal: EndingSignal) => void>();
let installed = false;
let ending = false;

function runCleanups(signal?: EndingSignal): void {
  if (ending) return;
  ending = true;
  if (signal) {
    for (const [name, cleanup] of signalCleanups) guard(name, () => cleanup(signal));
  }
  for (const [name, cleanup] of [...cleanups].reverse()) guard(name, cleanup);
}

function guard(name: string, cleanup: () => void): void {
  try {
    cleanup();
  } catch (error) {
    console.error(`[cleanup] ${name} failed: ${error instanceof Error ? error.message : String(error)}`);
  }
}

function install(): void {
  if (installed) return;
  installed = true;
  process.once("exit", () => runCleanups());
  for (const signal of Object.keys(SIGNALS) as EndingSignal[]) {
    process.once(signal, () => {
      const what = [...signalCleanups.keys(), ...cleanups.keys()].join(", ");
      console.error(`[cleanup] ${signal}: ${what ? `removing ${what}` : "stopping"}`);
      runCleanups(signal);
      process.exit(128 + SIGNALS[signal]);
    });
  }
}

/**
 * Runs `cleanup` (synchronous: nothing asynchronous runs once a process exits) when the
 * process ends, in the reverse order of registration. Registering a name again replaces it.
 */
export function onProcessEnd(name: string, cleanup: Cleanup): void {
  cleanups.set(name, cleanup);
  install();
}

/** Runs `cleanup` only when a signal ends the process, before the `onProcessEnd` ones. */
export function onEndingSignal(name: string, cleanup: (signal: EndingSignal) => void): void {
  signalCleanups.set(name, cleanup);
  install();
}

/** Makes sure a signal ends this process (with 128 + its number) after the cleanups, even when none is registered yet. */
export function exitOnSignals(): void {
  install();
}
