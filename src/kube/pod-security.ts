import type { V1Pod } from "@kubernetes/client-node";
import type { Kube } from "./index.ts";
import { statusCode, waitFor } from "./index.ts";
import type { SharedNamespaces } from "./namespaces.ts";

/**
 * Kubernetes Pod Security admission, as the API server applies it: the labels that make a
 * namespace enforce a level of the Pod Security Standards, and a server-side dry run that
 * asks the API server whether it would admit a pod under a level.
 */

export type PodSecurityLevel = "restricted" | "baseline";

export const ENFORCE_LABEL = "pod-security.kubernetes.io/enforce";

/** The labels of a namespace that enforces `level` (the standard's latest version). */
export function enforcingLabels(level: PodSecurityLevel): Record<string, string> {
  return { [ENFORCE_LABEL]: level, "pod-security.kubernetes.io/enforce-version": "latest" };
}

/** The level a namespace enforces, or undefined when it enforces none. */
export async function enforcedLevel(kube: Kube, namespace: string): Promise<string | undefined> {
  return (await kube.core.readNamespace({ name: namespace })).metadata?.labels?.[ENFORCE_LABEL];
}

/** The message of a refused API request (client-node keeps the server's Status in `body`). */
export function refusalMessage(error: unknown): string {
  const body = (error as { body?: unknown }).body;
  try {
    const parsed = typeof body === "string" ? JSON.parse(body) : body;
    if (parsed && typeof parsed === "object" && "message" in parsed) return String(parsed.message);
  } catch {}
  return error instanceof Error ? error.message : String(error);
}

/**
 * A namespace shared by the run that enforces `level` and holds nothing: pods are only
 * dry-run there. Its `default` service account must exist first (admission looks it up).
 */
export async function judgingNamespace(
  kube: Kube,
  namespaces: SharedNamespaces,
  level: PodSecurityLevel,
): Promise<string> {
  const name = `pod-security-${level}`;
  await namespaces.ensure(name, enforcingLabels(level));
  await waitFor(
    `the default service account of ${name}`,
    async () =>
      kube.core.readNamespacedServiceAccount({ namespace: name, name: "default" }).then(
        () => true,
        (error) => {
          if (statusCode(error) === 404) return false;
          throw error;
        },
      ),
    { timeoutMs: 30_000, intervalMs: 250 },
  );
  return name;
}

/**
 * Whether the API server admits `pod`'s spec in `namespace` (server-side dry run: nothing is
 * created): undefined when admitted, else the API server's refusal. The copy keeps the
 * spec the standard judges and drops what ties it to its own namespace (its service
 * account, its node).
 */
export async function dryRunRefusal(kube: Kube, namespace: string, pod: V1Pod): Promise<string | undefined> {
  const { serviceAccountName: _, serviceAccount: __, nodeName: ___, ...spec } = pod.spec ?? { containers: [] };
  const body: V1Pod = {
    metadata: { generateName: `${pod.metadata?.name ?? "judged"}-`, labels: { ...pod.metadata?.labels } },
    spec,
  };
  try {
    await kube.core.createNamespacedPod({ namespace, body, dryRun: "All" });
    return undefined;
  } catch (error) {
    // Only Pod Security's refusal is a verdict; any other (a terminating namespace, a quota) is an error.
    if (statusCode(error) === 403 && /violates PodSecurity/.test(refusalMessage(error))) return refusalMessage(error);
    throw error;
  }
}

/**
 * A pod `baseline` admits and `restricted` refuses (root allowed, privilege escalation and
 * capabilities not turned off, no seccomp profile): the probe that tells `restricted` is
 * enforced, not merely labelled or enforced one level lower.
 */
function baselineOnlyPod(image: string): V1Pod {
  return {
    metadata: { name: "restricted-probe" },
    spec: { containers: [{ name: "main", image, command: ["true"] }] },
  };
}

/**
 * Why `namespace` cannot judge pods under `level`, or undefined when it can: it must carry
 * the label and the API server must act on it (a cluster with Pod Security admission off,
 * or exempting the namespace, admits everything).
 */
export async function notEnforcing(
  kube: Kube,
  namespace: string,
  level: PodSecurityLevel,
  image: string,
): Promise<string | undefined> {
  const labelled = await enforcedLevel(kube, namespace);
  if (labelled !== level) return `namespace ${namespace} enforces ${labelled ?? "no level"}, not ${level}`;
  if (level !== "restricted") return undefined;
  const refusal = await dryRunRefusal(kube, namespace, baselineOnlyPod(image));
  return refusal === undefined
    ? `the API server admits a pod that breaks restricted in ${namespace}, a namespace labelled to enforce it: Pod Security admission is off or exempts it`
    : undefined;
}
