import { isDeepStrictEqual } from "node:util";
import type { Helm } from "../chart/helm.ts";
import { type Manifest, renderChart } from "../chart/wrapper.ts";

/** What a release change must do to the pods, said before it is made. */
export type RolloutKind = "restart" | "no-restart" | "rejected";

export interface Prediction {
  kind: RolloutKind;
  /** Why, in one line. */
  reason: string;
  /** Paths in the StatefulSet's pod template that differ (a restart of every pod follows). */
  podTemplateChanges: string[];
  /** StatefulSet fields the API server refuses to change (the upgrade must fail). */
  immutableChanges: string[];
  /** The StatefulSet whose immutable fields change, if one does. */
  immutableStatefulSet?: string;
  /** The StorageClass whose immutable fields change (provisioner, parameters, reclaimPolicy, volumeBindingMode), if one does. */
  immutableStorageClass?: string;
  /** Other objects added, removed or changed (`ConfigMap/valkey-config changed`). */
  otherChanges: string[];
  /** The StatefulSet's pod count changes: the pods added (started after the others) or removed (highest ordinal first). */
  scaling?: { statefulSet: string; from: number; to: number; added: string[]; removed: string[] };
}

/** A chart, its values files, rendered as one release would be. */
export interface RenderInput {
  chart: string;
  valuesFiles: string[];
}

/**
 * StatefulSet spec fields Kubernetes lets an update change; any other difference is
 * refused with "updates to statefulset spec for fields other than ... are forbidden".
 */
const MUTABLE_STATEFULSET_FIELDS = new Set([
  "replicas",
  "ordinals",
  "template",
  "updateStrategy",
  "persistentVolumeClaimRetentionPolicy",
  "minReadySeconds",
]);

/** StorageClass fields the API server refuses to change, with the defaults it fills in. */
const IMMUTABLE_STORAGECLASS_FIELDS: Record<string, unknown> = {
  provisioner: undefined,
  parameters: {},
  reclaimPolicy: "Delete",
  volumeBindingMode: "Immediate",
};

const short = (value: unknown) => {
  const text = JSON.stringify(value) ?? "absent";
  return text.length > 70 ? `${text.slice(0, 67)}...` : text;
};

/** Leaf paths where two values differ, with both sides. */
export function differences(before: unknown, after: unknown, path = ""): string[] {
  if (isDeepStrictEqual(before, after)) return [];
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null;
  if (!isObject(before) || !isObject(after) || Array.isArray(before) !== Array.isArray(after)) {
    return [`${path || "."}: ${short(before)} -> ${short(after)}`];
  }
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])];
  return keys.flatMap((key) =>
    differences(before[key], after[key], Array.isArray(before) ? `${path}[${key}]` : `${path}.${key}`),
  );
}

/** The API server does not keep apiVersion/kind of claim templates: not a change. */
function comparableClaimTemplates(templates: Manifest[] | undefined) {
  return (templates ?? []).map(({ apiVersion: _a, kind: _k, ...rest }) => rest);
}

/** Predicts from two renderings of the same release what the change does to its pods. */
export function predictFromManifests(before: Manifest[], after: Manifest[]): Prediction {
  const key = (m: Manifest) => `${m.kind}/${m.metadata.name}`;
  const beforeByKey = new Map(before.map((m) => [key(m), m]));
  const afterByKey = new Map(after.map((m) => [key(m), m]));
  const otherChanges: string[] = [];
  const immutableChanges: string[] = [];
  let immutableStorageClass: string | undefined;
  for (const k of new Set([...beforeByKey.keys(), ...afterByKey.keys()])) {
    if (k.startsWith("StatefulSet/")) continue;
    const [b, a] = [beforeByKey.get(k), afterByKey.get(k)];
    if (!b) otherChanges.push(`${k} added`);
    else if (!a) otherChanges.push(`${k} removed`);
    else if (!isDeepStrictEqual(b, a)) {
      otherChanges.push(`${k} changed`);
      if (a.kind !== "StorageClass") continue;
      for (const [field, fallback] of Object.entries(IMMUTABLE_STORAGECLASS_FIELDS)) {
        const changed = differences(b[field] ?? fallback, a[field] ?? fallback, `${k}.${field}`);
        if (changed.length > 0) immutableStorageClass = a.metadata.name;
        immutableChanges.push(...changed);
      }
    }
  }
  const setsBefore = before.filter((m) => m.kind === "StatefulSet");
  const setsAfter = after.filter((m) => m.kind === "StatefulSet");
  const podTemplateChanges: string[] = [];
  let immutableStatefulSet: string | undefined;
  let scaling: Prediction["scaling"];
  for (const set of setsAfter) {
    const old = setsBefore.find((s) => s.metadata.name === set.metadata.name);
    if (!old) {
      otherChanges.push(`StatefulSet/${set.metadata.name} added`);
      continue;
    }
    const [from, to] = [Number(old.spec.replicas ?? 1), Number(set.spec.replicas ?? 1)];
    if (from !== to) {
      const pods = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => `${set.metadata.name}-${a + i}`);
      scaling = {
        statefulSet: set.metadata.name,
        from,
        to,
        added: pods(from, Math.max(from, to)),
        removed: pods(to, Math.max(from, to)).reverse(),
      };
    }
    podTemplateChanges.push(...differences(old.spec.template, set.spec.template, "spec.template"));
    const fields = new Set([...Object.keys(old.spec ?? {}), ...Object.keys(set.spec ?? {})]);
    for (const field of fields) {
      if (MUTABLE_STATEFULSET_FIELDS.has(field)) continue;
      const [b, a] =
        field === "volumeClaimTemplates"
          ? [comparableClaimTemplates(old.spec[field]), comparableClaimTemplates(set.spec[field])]
          : [old.spec[field], set.spec[field]];
      const changed = differences(b, a, `spec.${field}`);
      if (changed.length > 0) immutableStatefulSet = set.metadata.name;
      immutableChanges.push(...changed);
    }
  }
  const scalingWords = scaling
    ? `; the StatefulSet scales from ${scaling.from} to ${scaling.to} pods (${scaling.added.length > 0 ? `${scaling.added.join(", ")} added` : `${scaling.removed.join(", ")} removed`})`
    : "";
  for (const set of setsBefore) {
    if (!setsAfter.some((s) => s.metadata.name === set.metadata.name))
      otherChanges.push(`StatefulSet/${set.metadata.name} removed`);
  }
  if (immutableChanges.length > 0) {
    const refusals: string[] = [];
    if (immutableStorageClass) {
      const fields = immutableChanges
        .filter((c) => c.startsWith("StorageClass/"))
        .map((c) => c.slice(`StorageClass/${immutableStorageClass}.`.length).split(/[.[:]/)[0]);
      refusals.push(
        `StorageClass ${immutableStorageClass} field(s) ${[...new Set(fields)].join(", ")} (delete the class first, then upgrade)`,
      );
    }
    if (immutableStatefulSet) {
      const fields = immutableChanges.filter((c) => c.startsWith("spec.")).map((c) => c.split(/[.[:]/)[1]);
      refusals.push(
        `StatefulSet field(s) ${[...new Set(fields)].join(", ")} (delete the StatefulSet with --cascade=orphan first, then upgrade)`,
      );
    }
    return {
      kind: "rejected",
      reason: `the API server refuses to change ${refusals.join(" and ")}: the upgrade must fail`,
      podTemplateChanges,
      immutableChanges,
      immutableStatefulSet,
      immutableStorageClass,
      otherChanges,
      scaling,
    };
  }
  if (podTemplateChanges.length > 0) {
    return {
      kind: "restart",
      reason: `the pod template changes (${podTemplateChanges.length} field(s)): every pod restarts, highest ordinal first${scalingWords}`,
      podTemplateChanges,
      immutableChanges,
      otherChanges,
      scaling,
    };
  }
  return {
    kind: "no-restart",
    reason: `${
      otherChanges.length > 0
        ? `only ${otherChanges.join(", ")}: no pod restarts`
        : "nothing the cluster runs changes: no pod restarts"
    }${scalingWords}`,
    podTemplateChanges,
    immutableChanges,
    otherChanges,
    scaling,
  };
}

/** Renders both sides with Helm (as the release named `release` in `namespace`) and predicts. */
export async function predictRollout(
  helm: Helm,
  before: RenderInput,
  after: RenderInput,
  release: string,
  namespace: string,
): Promise<Prediction> {
  const render = (input: RenderInput) =>
    renderChart(helm, input.chart, { release, namespace, valuesFiles: input.valuesFiles });
  return predictFromManifests(await render(before), await render(after));
}
