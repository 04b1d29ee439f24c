import { isDeepStrictEqual } from "node:util";
import type { Release } from "../chart/release.ts";
import type { Features } from "../chart/values.ts";
import type { Cluster } from "../cluster/index.ts";
import type { SharedNamespaces } from "../kube/namespaces.ts";
import type { Expected } from "./expected.ts";

/** What a check runs with. */
export interface CheckContext {
  release: Release;
  cluster: Cluster;
  /** What the environment asks for, computed from its files and the fit rules, never from Helm. */
  expected: Expected;
  /** Namespaces several checks may share (monitoring, allowed client namespaces), removed when the run ends. */
  namespaces: SharedNamespaces;
  log: (line: string) => void;
}

/**
 * A verdict on one promise of the chart. `promise` is the test's name and says exactly
 * what `run` asserts; `run` throws a CheckFailure naming what is wrong.
 */
export interface Check {
  /** Stable id: mutations name the check that must catch them by it. */
  id: string;
  promise: string;
  /** Why the check does not apply to an environment (e.g. no NetworkPolicy), or undefined when it does. */
  notApplicable?: (features: Features) => string | undefined;
  /** Deletes pods or volumes: runs after the checks that only read. */
  disruptive?: boolean;
  /** A capability of the cluster the check needs (a cluster without it skips the check, saying why). */
  requires?: "nodeControl";
  run: (context: CheckContext) => Promise<void>;
}

/** A check's verdict that the chart or cluster breaks its promise. */
export class CheckFailure extends Error {
  readonly check: string;
  constructor(check: string, message: string) {
    super(message);
    this.name = "CheckFailure";
    this.check = check;
  }
}

const show = (value: unknown) => (typeof value === "string" ? JSON.stringify(value) : JSON.stringify(value ?? null));

/** A small assertion vocabulary whose messages say what was expected, what was found, and where. */
export class Verdict {
  private readonly check: string;
  constructor(check: string) {
    this.check = check;
  }

  fail(message: string): never {
    throw new CheckFailure(this.check, message);
  }

  that(condition: unknown, message: string): asserts condition {
    if (!condition) this.fail(message);
  }

  /** Deep equality: "<what>: expected X, found Y". */
  equal<T>(found: unknown, expected: T, what: string): asserts found is T {
    if (!isDeepStrictEqual(found, expected)) this.fail(`${what}: expected ${show(expected)}, found ${show(found)}`);
  }
}
