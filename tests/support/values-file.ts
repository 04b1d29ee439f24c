import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { scratchDir } from "../../src/files.ts";

const scratch = scratchDir("valkey-values-");

/** Writes a small values file for a test case and returns its path. */
export function valuesFile(name: string, yaml: string): string {
  const file = join(scratch, `${name}.yaml`);
  writeFileSync(file, yaml);
  return file;
}
