import { parseArgs } from "node:util";

export interface OptionSpec {
  /** Placeholder of the option's value (e.g. "N"); absent for a flag. */
  value?: string;
  description: string;
  default?: string;
}

export interface CommandSpec {
  /** How the command is invoked, e.g. "npm run bench:compare --". */
  invocation: string;
  /** Positional arguments in words, e.g. "[baseline.json] <current.json>". */
  positionals?: string;
  description: string;
  options: Record<string, OptionSpec>;
  /** Extra lines after the options (examples, notes). */
  epilogue?: string[];
}

export function helpText(spec: CommandSpec): string {
  const width = Math.max(...Object.entries(spec.options).map(([n, o]) => n.length + (o.value?.length ?? -1) + 4), 10);
  const options = Object.entries(spec.options).map(([name, option]) => {
    const left = `--${name}${option.value ? ` ${option.value}` : ""}`;
    return `  ${left.padEnd(width + 2)}${option.description}${option.default ? ` (default ${option.default})` : ""}`;
  });
  return [
    `usage: ${spec.invocation}${Object.keys(spec.options).length ? " [options]" : ""}${spec.positionals ? ` ${spec.positionals}` : ""}`,
    "",
    spec.description,
    "",
    "options:",
    ...options,
    `  ${"--help".padEnd(width + 2)}print this help`,
    ...(spec.epilogue ? ["", ...spec.epilogue] : []),
  ].join("\n");
}

export class UsageError extends Error {}

/**
 * Parses a command line by its spec: `--help` prints the help and exits 0; an unknown
 * option or a missing value exits 2 with the problem and the usage line.
 */
export function parseCommandLine(
  spec: CommandSpec,
  argv = process.argv.slice(2),
): { options: Record<string, string | boolean | undefined>; positionals: string[] } {
  if (argv.includes("--help") || argv.includes("-h")) {
    console.log(helpText(spec));
    process.exit(0);
  }
  try {
    const parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: Object.fromEntries(
        Object.entries(spec.options).map(([name, option]) => [name, { type: option.value ? "string" : "boolean" }]),
      ) as Record<string, { type: "string" | "boolean" }>,
    });
    return { options: parsed.values as Record<string, string | boolean | undefined>, positionals: parsed.positionals };
  } catch (error) {
    fail(spec, error instanceof Error ? error.message : String(error));
  }
}

/** Prints a usage problem with the usage line and exits 2. */
export function fail(spec: CommandSpec, problem: string): never {
  console.error(`${problem}\n${helpText(spec).split("\n")[0]}\n(--help for every option)`);
  process.exit(2);
}

/** A whole-number option within [min, max], or the fallback when absent. */
export function wholeOption(spec: CommandSpec, name: string, raw: unknown, min: number, max: number, fallback: number) {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (typeof raw !== "string" || !/^[0-9]+$/.test(raw) || value < min || value > max) {
    fail(spec, `--${name} ${String(raw)} is not valid: give a whole number from ${min} to ${max}`);
  }
  return value;
}

/**
 * Runs a command's main, printing an error's message (not a stack) and exiting 1 on failure.
 * A main that sets `process.exitCode` (work that failed without throwing) keeps it.
 */
export function runMain(main: () => Promise<void>): void {
  main().then(
    () => process.exit(process.exitCode ?? 0),
    (error: unknown) => {
      console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
      process.exit(1);
    },
  );
}
