import { mkdirSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { stringify } from "yaml";
import { isMap, readValuesFile, type Values } from "../chart/values.ts";
import { PERSISTENCE_PROFILES } from "../environments.ts";
import { cacheDir } from "../settings.ts";
import type { WriteRecord } from "../valkey/writer.ts";

/** What a persistence profile promises about acknowledged writes when the process or its node crashes. */
export type Promise =
  | { loses: "none"; words: string }
  | { loses: "last-seconds"; seconds: number; words: string }
  | { loses: "since-last-save"; words: string };

export interface Profile {
  name: string;
  description: string;
  promise: Promise;
  /** The profile's own file (fixtures/persistence/<name>.yaml). */
  file: string;
  /** Its values layer as a values file, applied after the environment's file. */
  valuesFile: string;
  values: Values;
}

export function readProfile(name: string): Profile {
  return readProfileFile(join(PERSISTENCE_PROFILES, `${name}.yaml`));
}

/** A profile from a file of its own (its name: the file's, without `.yaml`). */
export function readProfileFile(file: string): Profile {
  const name = basename(file, ".yaml");
  const raw = readValuesFile(file);
  const fail = (what: string): never => {
    throw new Error(`${file}: ${what}`);
  };
  if (typeof raw.description !== "string") fail("description must say what the profile is");
  const promise = raw.promise as Promise | undefined;
  if (!promise || !["none", "last-seconds", "since-last-save"].includes(promise.loses)) {
    fail("promise.loses must be none, last-seconds or since-last-save");
  }
  if (promise?.loses === "last-seconds" && !(promise.seconds > 0)) fail("promise.seconds must be a number of seconds");
  if (typeof promise?.words !== "string") fail("promise.words must say the promise in words");
  if (!isMap(raw.values)) fail("values must be a values layer");
  const dir = join(cacheDir(), "values");
  mkdirSync(dir, { recursive: true });
  const valuesFile = join(dir, `persistence-${name}.yaml`);
  writeFileSync(valuesFile, `# The values layer of ${file}\n${stringify(raw.values)}`);
  return { name, description: raw.description, promise: promise as Promise, file, valuesFile, values: raw.values };
}

/** What the primary's persistence looked like just before a crash (INFO persistence). */
export interface PersistenceAtCrash {
  /** Epoch ms when the crash was issued (the kill command sent). */
  crashAt: number;
  /** Epoch ms when the crash was confirmed (the kill command returned): later acknowledgements came from the restarted server. */
  crashConfirmedAt?: number;
  /**
   * INFO persistence's aof_delayed_fsync before the crash: how often the server gave up
   * waiting for a background fsync (everysec holds writes back for up to 2 s meanwhile,
   * already acknowledged). Reported beside the losses of the last-seconds window.
   */
  aofDelayedFsync?: number;
  /** Epoch seconds of the last completed RDB save. */
  rdbLastSaveTime: number;
  rdbChangesSinceLastSave: number;
  /** Seconds the last background save took (the save holds the data as of its start). */
  rdbLastBgsaveSeconds: number;
  aofEnabled: boolean;
}

/** An acknowledged write that a crash lost, on the writer's wall clock (epoch ms). */
export interface LostWrite {
  key: string;
  sentAt: number;
  acknowledgedAt: number;
  replicas: number;
}

/**
 * The lost writes a profile's promise allows, bounded on both sides: none; those
 * acknowledged in the last `seconds` before the crash was issued, up to its confirmation;
 * or those acknowledged after the last completed RDB save started (a save holds the data
 * as of its start), up to the confirmation. A write the restarted server acknowledged
 * (after the confirmation) is never allowed to be lost.
 */
export function allowedToLose(promise: Promise, lost: LostWrite, crash: PersistenceAtCrash): boolean {
  const confirmed = crash.crashConfirmedAt ?? crash.crashAt;
  if (lost.acknowledgedAt > confirmed) return false;
  switch (promise.loses) {
    case "none":
      return false;
    case "last-seconds":
      return lost.acknowledgedAt >= crash.crashAt - promise.seconds * 1000;
    case "since-last-save":
      return lost.acknowledgedAt >= (crash.rdbLastSaveTime - crash.rdbLastBgsaveSeconds - 1) * 1000;
  }
}

/** The writer's records on the wall clock. */
export function onWallClock(record: WriteRecord, writerStartedAt: number): LostWrite {
  return {
    key: record.key,
    sentAt: Math.round(writerStartedAt + record.at),
    // When the server said OK, not when a WAIT after it returned: the write was in its hands then.
    acknowledgedAt: Math.round(writerStartedAt + (record.okAt ?? record.answeredAt)),
    replicas: record.replicas,
  };
}
