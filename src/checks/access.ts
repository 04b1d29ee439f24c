import type { V1Pod } from "@kubernetes/client-node";
import type { Cluster } from "../cluster/index.ts";
import { waitFor } from "../kube/index.ts";
import { rawCommand, rawPing, withClient } from "../valkey/index.ts";
import { type Check, type CheckContext, Verdict } from "./check.ts";

export const authentication: Check = {
  id: "access.auth",
  promise:
    "refuses a client without credentials (NOAUTH) and a wrong password (WRONGPASS), and serves the configured user",
  notApplicable: (features) => (features.auth ? undefined : "the environment does not turn authentication on"),
  async run({ release }) {
    const verdict: Verdict = new Verdict(this.id);
    const endpoint = await release.endpoint("primary");
    const anonymous = await rawPing(endpoint);
    verdict.that(
      /^-NOAUTH/.test(anonymous),
      `a client without credentials got ${JSON.stringify(anonymous)} instead of -NOAUTH`,
    );
    const wrong = await rawCommand(endpoint, ["AUTH", "default", "wrong-password"]);
    verdict.that(/^-WRONGPASS/.test(wrong), `a wrong password got ${JSON.stringify(wrong)} instead of -WRONGPASS`);
    const right = await rawCommand(endpoint, ["AUTH", "default", release.credentials.default ?? ""]);
    verdict.equal(right, "+OK", "AUTH of the configured user");
    verdict.equal(
      await withClient(endpoint, release.clientCredentials, (c) => c.ping()),
      "PONG",
      "PING as the configured user",
    );
  },
};

/** What a TCP probe to Valkey's port met. */
type Outcome = { kind: "answered" | "refused" | "timeout" | "broken"; detail: string };

/**
 * Sends PING and QUIT to ip:6379 with busybox nc from a client pod. Valkey answering is
 * `answered`; a connection refused (kube-router rejects with a reset) or a connect timeout
 * (policies that drop) is a network-level refusal; anything else (the client broken, no
 * route, a bad address) is `broken`, never counted as a refusal.
 */
async function probe(cluster: Cluster, namespace: string, client: string, ip: string): Promise<Outcome> {
  if (!/^\d+\.\d+\.\d+\.\d+$/.test(ip)) return { kind: "broken", detail: `not a pod IP: ${JSON.stringify(ip)}` };
  const result = await cluster.sh(
    namespace,
    client,
    `out=$(printf 'PING\\r\\nQUIT\\r\\n' | timeout 5 nc -w 3 ${ip} 6379 2>&1); rc=$?; printf '%s\\nrc=%s\\n' "$out" "$rc"`,
  );
  const text = result.stdout;
  const rc = /rc=(\d+)/.exec(text)?.[1];
  if (result.exitCode !== 0 || rc === undefined) {
    return { kind: "broken", detail: `the client did not run the probe (exit ${result.exitCode}): ${result.stderr}` };
  }
  if (/\+PONG|-NOAUTH/.test(text)) return { kind: "answered", detail: text.split("\n")[0] ?? "" };
  if (/refused/i.test(text)) return { kind: "refused", detail: "connection refused" };
  if (rc === "124" || /timed? ?out/i.test(text)) return { kind: "timeout", detail: "connect timed out" };
  return { kind: "broken", detail: `nc exited ${rc}: ${text.replace(/\n?rc=\d+\n?$/, "").trim() || "(no output)"}` };
}

const denied = (outcome: Outcome) => outcome.kind === "refused" || outcome.kind === "timeout";

interface Client {
  name: string;
  namespace: string;
  node: string;
  labels: Record<string, string>;
  allowed: boolean;
  why: string;
}

/** Clients on every node: allowed ones (by pod labels, by namespace) and refused ones (the pairs' other half). */
async function clientsOf(context: CheckContext, nodes: string[], outsideNamespace: string): Promise<Client[]> {
  const { release, expected, namespaces } = context;
  const policy = expected.networkPolicy;
  const podLabels = policy.allowedPodLabels[0];
  const allowedNamespace = policy.allowedNamespaces[0];
  if (allowedNamespace) await namespaces.ensure(allowedNamespace);
  const clients: Client[] = [];
  nodes.forEach((node, i) => {
    const here = (name: string, namespace: string, labels: Record<string, string>, allowed: boolean, why: string) =>
      clients.push({ name: `${name}-${i}`, namespace, node, labels, allowed, why });
    here(
      "np-stranger",
      release.namespace,
      { role: "stranger" },
      false,
      "a pod of the release's namespace without the allowed labels",
    );
    if (podLabels)
      here("np-labelled", release.namespace, podLabels, true, `a pod labelled ${JSON.stringify(podLabels)}`);
    if (podLabels) {
      here(
        "np-labelled-elsewhere",
        outsideNamespace,
        podLabels,
        false,
        "a pod with the allowed labels in a namespace the policy does not list",
      );
    }
    if (allowedNamespace) {
      here(
        `np-${release.namespace}`,
        allowedNamespace,
        { role: "stranger" },
        true,
        `any pod of the allowed namespace ${allowedNamespace}`,
      );
    }
  });
  return clients;
}

/** How long a new policy may take to be enforced (measured here: about 1 s). */
const POLICY_IN_FORCE_BOUND_MS = 20_000;

export const networkPolicy: Check = {
  id: "access.network-policy",
  promise:
    "admits to Valkey's port only the pods and namespaces the environment lists: from every node, each refused probe is paired with an admitted probe to the same pod at the same moment",
  notApplicable: (features) => (features.networkPolicy ? undefined : "the environment has no NetworkPolicy"),
  async run(context) {
    const verdict: Verdict = new Verdict(this.id);
    const { release, cluster } = context;
    const nodes = await cluster.nodeNames();
    const outsideNamespace = `np-outside-${release.namespace}`.slice(0, 63);
    await cluster.kube.createNamespace(outsideNamespace);
    const clients = await clientsOf(context, nodes, outsideNamespace);
    try {
      await Promise.all(
        clients.map((c) =>
          cluster.startPod(
            c.namespace,
            cluster.helperPod(c.name, c.labels, { nodeName: c.node, terminationGracePeriodSeconds: 0 }),
          ),
        ),
      );
      verdict.that(
        clients.some((c) => c.allowed) && clients.some((c) => !c.allowed),
        "the environment's policy lists no client to admit: nothing to pair refusals with",
      );
      const targets = (await cluster.kube.pods(release.namespace, release.labelSelector)).map((pod: V1Pod) => ({
        name: pod.metadata?.name as string,
        node: pod.spec?.nodeName as string,
        ip: pod.status?.podIP ?? "",
      }));
      verdict.equal(targets.length, context.expected.pods, "Valkey pods to probe");
      // A pair: a refused client and an admitted one on the same node, probing the same pod at once.
      const pairs = clients
        .filter((c) => !c.allowed)
        .flatMap((refused) => {
          const admitted = clients.find((c) => c.allowed && c.node === refused.node) as Client;
          return targets.map((target) => ({ refused, admitted, target }));
        });
      const probePair = async ({ refused, admitted, target }: (typeof pairs)[number]) => {
        const [r, a] = await Promise.all([
          probe(cluster, refused.namespace, refused.name, target.ip),
          probe(cluster, admitted.namespace, admitted.name, target.ip),
        ]);
        return { refused, admitted, target, r, a };
      };
      // The policy controller needs a moment to program a new policy (measured here: about 1 s):
      // wait until one pair shows it in force, or report what the pair saw at the end.
      const started = performance.now();
      const firstPair = pairs[0] as (typeof pairs)[number];
      await waitFor(
        "the NetworkPolicy to be in force (first pair: refused and admitted at the same moment)",
        async () => {
          const result = await probePair(firstPair);
          return denied(result.r) && result.a.kind === "answered";
        },
        { timeoutMs: POLICY_IN_FORCE_BOUND_MS, intervalMs: 500 },
      ).catch(async () => {
        const { r, a } = await probePair(firstPair);
        const path = (c: Client) => `${c.namespace}/${c.name} (${c.node}) -> ${firstPair.target.name}`;
        if (r.kind === "answered") {
          verdict.fail(
            `${path(firstPair.refused)}, ${firstPair.refused.why}, was admitted: Valkey answered ${r.detail} after ${POLICY_IN_FORCE_BOUND_MS / 1000} s for the policy to take effect`,
          );
        }
        verdict.fail(
          `the policy was not in force after ${POLICY_IN_FORCE_BOUND_MS / 1000} s: ${path(firstPair.refused)} ${r.kind} (${r.detail}), ${path(firstPair.admitted)} ${a.kind} (${a.detail})`,
        );
      });
      context.log(
        `[netpol ${release.env}] policy in force after ${((performance.now() - started) / 1000).toFixed(1)} s`,
      );
      const results = await Promise.all(pairs.map(probePair));
      const wrong = results.flatMap(({ refused, admitted, target, r, a }) => {
        const path = (c: Client) => `${c.namespace}/${c.name} (${c.node}) -> ${target.name} (${target.node})`;
        const problems: string[] = [];
        if (a.kind !== "answered")
          problems.push(`${path(admitted)}, ${admitted.why}, was not admitted: ${a.kind} (${a.detail})`);
        if (r.kind === "answered")
          problems.push(`${path(refused)}, ${refused.why}, was admitted: Valkey answered ${r.detail}`);
        else if (!denied(r)) problems.push(`${path(refused)}, ${refused.why}: the probe itself failed: ${r.detail}`);
        return problems;
      });
      verdict.that(
        wrong.length === 0,
        `${wrong.length} of ${results.length * 2} probes went wrong:\n  ${wrong.join("\n  ")}`,
      );
      const kinds = new Set(results.map((x) => x.r.kind));
      context.log(
        `[netpol ${release.env}] ${results.length} pairs from ${nodes.length} nodes: refusals were ${[...kinds].join(" and ")}`,
      );
    } finally {
      await Promise.all(
        clients.map((c) =>
          cluster.kube.core
            .deleteNamespacedPod({ namespace: c.namespace, name: c.name, gracePeriodSeconds: 0 })
            .catch(() => undefined),
        ),
      );
      await cluster.kube.deleteNamespace(outsideNamespace);
    }
  },
};
