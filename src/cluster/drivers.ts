import type { V1Deployment } from "@kubernetes/client-node";
import { isPodReady, type Kube, statusCode, waitFor } from "../kube/index.ts";

const NAMESPACE = "local-path-storage";

/** The StorageClass a managed cluster of each cloud offers for its disk driver. */
export const CLOUD_CLASSES: Record<string, string> = {
  "pd.csi.storage.gke.io": "standard-rwo",
  "ebs.csi.aws.com": "gp3",
  "disk.csi.azure.com": "managed-csi",
};

/**
 * Makes the cluster serve cloud disk drivers under their real names, as a managed
 * cluster does: one more local-path-provisioner instance per driver
 * (`--provisioner-name <driver>`, its own lease), and the StorageClass that cloud
 * offers for it. An environment naming the driver then installs as written: its own
 * StorageClass with its provisioner and parameters, no stand-in.
 */
export async function serveDrivers(kube: Kube, drivers: string[], log: (line: string) => void): Promise<void> {
  const original = await kube.apps.readNamespacedDeployment({ name: "local-path-provisioner", namespace: NAMESPACE });
  for (const driver of drivers) {
    const name = `local-path-${driver.replaceAll(/[^a-z0-9]+/g, "-")}`.slice(0, 63);
    const deployment = structuredClone(original) as V1Deployment;
    deployment.metadata = { name, namespace: NAMESPACE, labels: { app: name } };
    deployment.spec = deployment.spec as NonNullable<V1Deployment["spec"]>;
    deployment.spec.selector = { matchLabels: { app: name } };
    const template = deployment.spec.template;
    template.metadata = { labels: { app: name } };
    const container = template.spec?.containers[0];
    if (!container?.command)
      throw new Error("the cluster's local-path-provisioner Deployment has no command to extend");
    container.command = [...container.command, "--provisioner-name", driver];
    deployment.status = undefined;
    await kube.apps.createNamespacedDeployment({ namespace: NAMESPACE, body: deployment });
    const className = CLOUD_CLASSES[driver] ?? name;
    await createServedClass(kube, className, driver);
    log(`[cluster] serves ${driver} (StorageClass ${className}) with local-path-provisioner instance ${name}`);
  }
  await waitFor(
    `the provisioners of ${drivers.join(", ")} to run`,
    async () => {
      const pods = await kube.pods(NAMESPACE);
      return drivers.every((driver) =>
        pods.some(
          (pod) =>
            pod.metadata?.labels?.app === `local-path-${driver.replaceAll(/[^a-z0-9]+/g, "-")}`.slice(0, 63) &&
            isPodReady(pod),
        ),
      );
    },
    { timeoutMs: 120_000, intervalMs: 1000 },
  );
}

/** A StorageClass of a provisioner the cluster serves (the fit sees the provisioner as served); an existing one is kept. */
export async function createServedClass(kube: Kube, name: string, provisioner: string): Promise<void> {
  await kube.storage
    .createStorageClass({
      body: { metadata: { name }, provisioner, volumeBindingMode: "WaitForFirstConsumer", reclaimPolicy: "Delete" },
    })
    .catch((error) => (statusCode(error) === 409 ? undefined : Promise.reject(error)));
}
