import { AuthorizationV1Api } from "@kubernetes/client-node";
import { restrictedProblems } from "../contract.ts";
import { type Check, CheckNotApplicable, releasePods, Verdict } from "./check.ts";

/**
 * The release's security posture read from what runs: the pods' API credentials, what
 * their processes may do (read from the kernel on their nodes), and what the API server
 * lets their service account do. The Pod Security level itself is the contract's
 * (contract.pod-security).
 */

const TOKEN_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

/** Whether a mount at `path` puts something at or over the token directory (a parent, the directory, a file in it). */
export function mountsTokenDirectory(path: string): boolean {
  const at = path.replace(/\/+$/, "") || "/";
  return at === "/" || TOKEN_DIR === at || TOKEN_DIR.startsWith(`${at}/`) || at.startsWith(`${TOKEN_DIR}/`);
}

export const serviceAccountToken: Check = {
  id: "security.service-account-token",
  promise:
    "mounts no Kubernetes API token into any pod, as the environment declares (serviceAccount.automount false): no token volume in any pod's spec, no container mounting anything at the token's directory, and no token file in the Valkey container",
  async run(context) {
    const { release, cluster } = context;
    const verdict: Verdict = new Verdict(this.id);
    if (release.declared.valkey?.serviceAccount?.automount === true)
      throw new CheckNotApplicable("the environment declares a mounted token (valkey.serviceAccount.automount: true)");
    for (const pod of await releasePods(verdict, context)) {
      const name = pod.metadata?.name as string;
      const tokenVolumes = (pod.spec?.volumes ?? []).filter((v) =>
        v.projected?.sources?.some((source) => source.serviceAccountToken),
      );
      verdict.that(
        tokenVolumes.length === 0,
        `pod ${name} has a service account token volume (${tokenVolumes.map((v) => v.name).join(", ")}): automountServiceAccountToken is ${pod.spec?.automountServiceAccountToken}`,
      );
      const mounting = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].filter((c) =>
        c.volumeMounts?.some((m) => mountsTokenDirectory(m.mountPath)),
      );
      verdict.that(
        mounting.length === 0,
        `pod ${name}: ${mounting.map((c) => c.name).join(", ")} mount(s) a volume at or over ${TOKEN_DIR}`,
      );
      const inside = await cluster.kube.exec(release.namespace, name, release.fullname, [
        "sh",
        "-c",
        `test -e ${TOKEN_DIR}/token && echo present || echo absent`,
      ]);
      verdict.equal(inside.stdout.trim(), "absent", `${TOKEN_DIR}/token in pod ${name}'s Valkey container`);
    }
  },
};

/** The lines of /proc/<pid>/status this check reads. */
export interface ProcessCredentials {
  uid: number;
  noNewPrivs: boolean;
  /** Capabilities the process could ever hold (what exec of a file with capabilities may grant). */
  boundingCapabilities: bigint;
}

/** Linux capability names by bit (linux/capability.h). */
const CAPABILITIES = [
  "CHOWN",
  "DAC_OVERRIDE",
  "DAC_READ_SEARCH",
  "FOWNER",
  "FSETID",
  "KILL",
  "SETGID",
  "SETUID",
  "SETPCAP",
  "LINUX_IMMUTABLE",
  "NET_BIND_SERVICE",
  "NET_BROADCAST",
  "NET_ADMIN",
  "NET_RAW",
  "IPC_LOCK",
  "IPC_OWNER",
  "SYS_MODULE",
  "SYS_RAWIO",
  "SYS_CHROOT",
  "SYS_PTRACE",
  "SYS_PACCT",
  "SYS_ADMIN",
  "SYS_BOOT",
  "SYS_NICE",
  "SYS_RESOURCE",
  "SYS_TIME",
  "SYS_TTY_CONFIG",
  "MKNOD",
  "LEASE",
  "AUDIT_WRITE",
  "AUDIT_CONTROL",
  "SETFCAP",
  "MAC_OVERRIDE",
  "MAC_ADMIN",
  "SYSLOG",
  "WAKE_ALARM",
  "BLOCK_SUSPEND",
  "AUDIT_READ",
  "PERFMON",
  "BPF",
  "CHECKPOINT_RESTORE",
];
/** The one capability the restricted standard lets a container add. */
const NET_BIND_SERVICE = 1n << 10n;

export function capabilityNames(set: bigint): string[] {
  return CAPABILITIES.filter((_, bit) => (set >> BigInt(bit)) & 1n).concat(
    set >> BigInt(CAPABILITIES.length) ? [`bits above ${CAPABILITIES.length - 1}`] : [],
  );
}

/** Parses /proc/<pid>/status: the effective user, the no_new_privs flag, the bounding capability set. */
export function parseProcessStatus(status: string): ProcessCredentials {
  const field = (name: string) => {
    const match = status.match(new RegExp(`^${name}:\\s*(.*)$`, "m"));
    if (!match) throw new Error(`no ${name} line in the process status:\n${status.slice(0, 400)}`);
    return (match[1] as string).trim();
  };
  return {
    uid: Number(field("Uid").split(/\s+/)[1]),
    noNewPrivs: field("NoNewPrivs") === "1",
    boundingCapabilities: BigInt(`0x${field("CapBnd")}`),
  };
}

/** What in a process's credentials breaks the restricted posture, in words (none: []). */
export function credentialProblems(process: ProcessCredentials): string[] {
  const problems: string[] = [];
  if (process.uid === 0) problems.push("runs as root (Uid 0)");
  if (!process.noNewPrivs) problems.push("may gain privileges (NoNewPrivs 0: allowPrivilegeEscalation is not false)");
  const extra = process.boundingCapabilities & ~NET_BIND_SERVICE;
  if (extra !== 0n)
    problems.push(
      `may gain capabilities (CapBnd ${process.boundingCapabilities.toString(16)}: ${capabilityNames(extra).join(", ")})`,
    );
  return problems;
}

/** The status of a container's main process, read from its node: containerd's task pid, then /proc. */
async function processStatus(
  exec: (command: readonly string[]) => Promise<string>,
  containerId: string,
): Promise<string> {
  const id = containerId.replace(/^[a-z]+:\/\//, "");
  return exec([
    "sh",
    "-c",
    `pid=$(ctr -n k8s.io task ls | awk '$1 == "${id}" { print $2 }'); test -n "$pid" || { echo "no task ${id}" >&2; exit 1; }; cat /proc/$pid/status`,
  ]);
}

export const nonRootProcesses: Check = {
  id: "security.non-root",
  promise:
    "runs the main process of every running container as a non-root user that cannot gain privileges or capabilities (none but NET_BIND_SERVICE in its bounding set), as the environment's restricted posture declares: Uid, NoNewPrivs and CapBnd read from /proc on the pod's node",
  requires: "nodeControl",
  async run(context) {
    const { release, cluster } = context;
    const verdict: Verdict = new Verdict(this.id);
    const undeclared = restrictedProblems(release.declared);
    if (undeclared.length > 0)
      throw new CheckNotApplicable(
        `the environment's values declare no restricted posture (${undeclared.map((p) => p.problem).join("; ")})`,
      );
    const nodes = cluster.nodeControl;
    if (!nodes) throw new CheckNotApplicable("needs node control");
    const problems: string[] = [];
    for (const pod of await releasePods(verdict, context)) {
      const node = nodes.node(pod.spec?.nodeName as string);
      for (const container of pod.status?.containerStatuses ?? []) {
        const where = `container ${container.name} of ${pod.metadata?.name}`;
        verdict.that(container.containerID && container.state?.running, `${where} is not running`);
        const process = parseProcessStatus(
          await processStatus((command) => nodes.exec(node, command), container.containerID as string),
        );
        const found = credentialProblems(process);
        if (found.length > 0) problems.push(`${where}: ${found.join(", ")}`);
      }
    }
    verdict.that(problems.length === 0, problems.join("; "));
  },
};

/** Requests a workload's identity must not be allowed: reading credentials, running or changing workloads. */
const FORBIDDEN_REQUESTS: { verb: string; resource: string; group?: string; clusterWide?: boolean }[] = [
  { verb: "get", resource: "secrets" },
  { verb: "list", resource: "secrets" },
  { verb: "list", resource: "secrets", clusterWide: true },
  { verb: "get", resource: "configmaps" },
  { verb: "list", resource: "pods" },
  { verb: "create", resource: "pods" },
  { verb: "create", resource: "pods/exec" },
  { verb: "patch", resource: "statefulsets", group: "apps" },
  { verb: "list", resource: "nodes", clusterWide: true },
];

export const apiPermissions: Check = {
  id: "security.api-permissions",
  promise:
    "gives the pods' service account none of the API requests that matter: the API server's SubjectAccessReview denies it reading Secrets, ConfigMaps and Pods, creating Pods or exec, changing the StatefulSet, and listing Secrets or nodes cluster-wide",
  async run(context) {
    const { release, cluster } = context;
    const verdict: Verdict = new Verdict(this.id);
    const pods = await releasePods(verdict, context);
    const accounts = [...new Set(pods.map((p) => p.spec?.serviceAccountName ?? "default"))];
    const authorization = cluster.kube.config.makeApiClient(AuthorizationV1Api);
    for (const account of accounts) {
      const user = `system:serviceaccount:${release.namespace}:${account}`;
      for (const request of FORBIDDEN_REQUESTS) {
        const review = await authorization.createSubjectAccessReview({
          body: {
            spec: {
              user,
              groups: ["system:serviceaccounts", `system:serviceaccounts:${release.namespace}`, "system:authenticated"],
              resourceAttributes: {
                verb: request.verb,
                resource: request.resource.split("/")[0],
                subresource: request.resource.split("/")[1],
                group: request.group ?? "",
                namespace: request.clusterWide ? undefined : release.namespace,
              },
            },
          },
        });
        const scope = request.clusterWide ? "cluster-wide" : `in ${release.namespace}`;
        verdict.that(
          !review.status?.allowed,
          `service account ${account} may ${request.verb} ${request.resource} ${scope}${review.status?.reason ? ` (${review.status.reason})` : ""}`,
        );
      }
    }
  },
};
