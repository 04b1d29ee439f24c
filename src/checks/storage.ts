import type { V1StatefulSet } from "@kubernetes/client-node";
import { sameQuantity } from "../chart/quantity.ts";
import { type Check, Verdict } from "./check.ts";

export const storageClass: Check = {
  id: "storage.class",
  promise:
    "creates its StorageClass with the environment's provisioner (or the fit's stand-in), parameters, reclaim policy, binding mode and expansion",
  notApplicable: (features) => (features.storageClass ? undefined : "the environment uses an existing StorageClass"),
  async run({ cluster, expected }) {
    const verdict: Verdict = new Verdict(this.id);
    const want = expected.storageClass;
    const found = await cluster.kube.storage.readStorageClass({ name: want.name }).catch(() => undefined);
    if (!found) verdict.fail(`StorageClass ${want.name} does not exist`);
    verdict.equal(found.provisioner, want.provisioner, `provisioner of StorageClass ${want.name}`);
    verdict.equal(found.parameters ?? {}, want.parameters, `parameters of StorageClass ${want.name}`);
    verdict.equal(found.reclaimPolicy, want.reclaimPolicy, `reclaimPolicy of StorageClass ${want.name}`);
    verdict.equal(found.volumeBindingMode, want.volumeBindingMode, `volumeBindingMode of StorageClass ${want.name}`);
    verdict.equal(
      found.allowVolumeExpansion ?? false,
      want.allowVolumeExpansion,
      `allowVolumeExpansion of StorageClass ${want.name}`,
    );
  },
};

/** Whether a scale-down leaves the removed pods' claims (Kubernetes' default when the StatefulSet says nothing). */
export function retainsClaimsOnScaleDown(set: V1StatefulSet): boolean {
  return (set.spec?.persistentVolumeClaimRetentionPolicy?.whenScaled ?? "Retain") === "Retain";
}

export const volumeClaims: Check = {
  id: "storage.claims",
  promise:
    "binds one volume per pod with the environment's size (as fitted), access modes and class, and each pod mounts its own at /data (claims of pods removed by scaling down stay only if the StatefulSet retains them)",
  async run({ release, cluster, expected, log }) {
    const verdict: Verdict = new Verdict(this.id);
    const all = (await cluster.kube.core.listNamespacedPersistentVolumeClaim({ namespace: release.namespace })).items;
    const set = await cluster.kube.apps.readNamespacedStatefulSet({
      name: release.fullname,
      namespace: release.namespace,
    });
    // Claims of pods a scale-down removed: beyond the StatefulSet's count, their pod gone.
    const pods = new Set((await cluster.kube.pods(release.namespace)).map((p) => p.metadata?.name));
    const ordinal = (name = "") => Number(/-(\d+)$/.exec(name)?.[1] ?? -1);
    const prefix = `valkey-data-${release.fullname}-`;
    const ofRemovedPods = retainsClaimsOnScaleDown(set)
      ? all.filter((c) => {
          const name = c.metadata?.name ?? "";
          return (
            name.startsWith(prefix) &&
            ordinal(name) >= (set.spec?.replicas ?? 0) &&
            !pods.has(`${release.fullname}-${ordinal(name)}`)
          );
        })
      : [];
    if (ofRemovedPods.length > 0)
      log(
        `[${release.env}] storage.claims: ${ofRemovedPods.map((c) => c.metadata?.name).join(", ")} kept from pods removed by scaling down (whenScaled: Retain)`,
      );
    const claims = all.filter((c) => !ofRemovedPods.includes(c));
    const wanted = Array.from({ length: expected.pods }, (_, i) => `valkey-data-${release.podName(i)}`);
    verdict.equal(claims.map((c) => c.metadata?.name).sort(), wanted.sort(), "volume claims of the release");
    for (const claim of claims) {
      const name = claim.metadata?.name;
      verdict.equal(claim.status?.phase, "Bound", `phase of claim ${name}`);
      verdict.equal(claim.spec?.storageClassName, expected.volume.storageClassName, `class of claim ${name}`);
      const size = claim.spec?.resources?.requests?.storage;
      verdict.that(
        sameQuantity(size, expected.volume.size, "bytes"),
        `size of claim ${name}: expected ${expected.volume.size}, found ${size}`,
      );
      verdict.equal(claim.spec?.accessModes, expected.volume.accessModes, `access modes of claim ${name}`);
    }
    for (let i = 0; i < expected.pods; i++) {
      const pod = await cluster.kube.core.readNamespacedPod({ namespace: release.namespace, name: release.podName(i) });
      const volume = pod.spec?.volumes?.find(
        (v) => v.persistentVolumeClaim?.claimName === `valkey-data-${release.podName(i)}`,
      );
      verdict.that(volume, `pod ${i} does not mount its claim valkey-data-${release.podName(i)}`);
      const mount = pod.spec?.containers
        .find((c) => c.name === release.fullname)
        ?.volumeMounts?.find((m) => m.name === volume.name);
      verdict.equal(mount?.mountPath, "/data", `where pod ${i}'s Valkey container mounts its volume`);
    }
  },
};
