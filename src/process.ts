import { type ChildProcess, spawn } from "node:child_process";
import { onProcessEnd } from "./exit.ts";

/** Whether a process of this machine is alive (EPERM: alive, someone else's). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Children still running: stopped when this process ends, so a stopped run leaves no build or helm behind. */
const running = new Set<ChildProcess>();

function stopOnExit(child: ChildProcess): void {
  running.add(child);
  child.once("close", () => running.delete(child));
  onProcessEnd("child processes", () => {
    for (const c of running) c.kill("SIGTERM");
  });
}

export interface RunResult {
  stdout: string;
  stderr: string;
  code: number;
}

export interface RunOptions {
  input?: string | Buffer;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Stream the child's output to ours (long builds); it is still captured. */
  echo?: boolean;
  timeoutMs?: number;
}

/** Runs a program (no shell) and resolves with its output, whatever its exit code. */
export function run(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ["pipe", "pipe", "pipe"],
      timeout: options.timeoutMs,
    });
    stopOnExit(child);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => {
      out.push(chunk);
      if (options.echo) process.stdout.write(chunk);
    });
    child.stderr.on("data", (chunk: Buffer) => {
      err.push(chunk);
      if (options.echo) process.stderr.write(chunk);
    });
    child.on("error", reject);
    child.on("close", (code, signal) =>
      resolvePromise({
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
        code: code ?? (signal ? 128 : 1),
      }),
    );
    // A program that exits without reading its input closes the pipe first: not an error.
    child.stdin.on("error", () => {});
    child.stdin.end(options.input ?? "");
  });
}

/**
 * A program that failed. The message starts with the program's own words (the last lines
 * of its error output), then names the command: readers look for the first, tools cut at
 * the end.
 */
export class CommandError extends Error {
  readonly result: RunResult;
  readonly command: string;
  constructor(command: string, args: readonly string[], result: RunResult) {
    const tail = (result.stderr || result.stdout).trim().split("\n").slice(-15).join("\n");
    const commandLine = `${command} ${args.join(" ")}`;
    super(
      `${tail || "(no output)"}\n(${commandLine.length > 300 ? `${commandLine.slice(0, 300)}...` : commandLine} exited with ${result.code})`,
    );
    this.name = "CommandError";
    this.result = result;
    this.command = commandLine;
  }

  /** The program's own error output, whole. */
  get output(): string {
    return (this.result.stderr || this.result.stdout).trim();
  }
}

/** The first CommandError in an error's cause chain. */
export function commandErrorIn(error: unknown): CommandError | undefined {
  for (let e: unknown = error; e; e = (e as { cause?: unknown }).cause) {
    if (e instanceof CommandError) return e;
  }
  return undefined;
}

/** Runs a program and throws a CommandError with its last output lines when it fails. */
export async function runOrThrow(command: string, args: readonly string[], options: RunOptions = {}): Promise<string> {
  const result = await run(command, args, options);
  if (result.code !== 0) throw new CommandError(command, args, result);
  return result.stdout;
}
