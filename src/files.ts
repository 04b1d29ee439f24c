import { readdirSync } from "node:fs";
import { join } from "node:path";

/** Every file below `dir`, sorted, as full paths. */
export function listFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) => (entry.isDirectory() ? listFiles(join(dir, entry.name)) : [join(dir, entry.name)]))
    .sort();
}
