import { afterAll } from "vitest";
import { removeScratchDirs } from "../../src/files.ts";

// Vitest ends its workers without an exit event: each test file removes its scratch directories itself.
afterAll(removeScratchDirs);
