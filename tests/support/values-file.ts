import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const scratch = mkdtempSync(join(tmpdir(), "valkey-values-"));

/** Writes a small values file for a test case and returns its path. */
export function valuesFile(name: string, yaml: string): string {
  const file = join(scratch, `${name}.yaml`);
  writeFileSync(file, yaml);
  return file;
}
