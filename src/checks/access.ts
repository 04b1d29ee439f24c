import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { isDeepStrictEqual } from "node:util";
import type { V1Pod } from "@kubernetes/client-node";
import type { Redis } from "ioredis";
import type { Cluster } from "../cluster/index.ts";
import { PortForwardServer } from "../kube/forward.ts";
import { waitFor } from "../kube/index.ts";
import {
  type Credentials,
  metricValue,
  parseInfo,
  parseMetrics,
  rawCommand,
  rawPing,
  withClient,
} from "../valkey/index.ts";
import { type Check, type CheckContext, Verdict } from "./check.ts";

/** One connection of a CLIENT LIST reply: its fields by name (id, addr, name, flags, user, cmd, ...). */
export type ClientEntry = Record<string, string>;

/** Parses a CLIENT LIST (or CLIENT INFO) reply: one connection a line, `field=value` pairs separated by spaces. */
export function parseClientList(text: string): ClientEntry[] {
  return text
    .split(/\r?\n/)
    .filter((line) => line.trim() !== "")
    .map((line) =>
      Object.fromEntries(
        line
          .trim()
          .split(" ")
          .map((pair) => {
            const separator = pair.indexOf("=");
            return separator < 0 ? [pair, ""] : [pair.slice(0, separator), pair.slice(separator + 1)];
          }),
      ),
    );
}

/**
 * An ACL rule string split into the arguments of ACL SETUSER: rules are separated by
 * spaces, except inside a selector, `(+set ~key2)`, which is one argument.
 */
export function aclRules(permissions: string): string[] {
  const rules: string[] = [];
  let current = "";
  let depth = 0;
  for (const char of permissions.trim()) {
    if (/\s/.test(char) && depth === 0) {
      if (current) rules.push(current);
      current = "";
      continue;
    }
    if (char === "(") depth++;
    if (char === ")") depth = Math.max(0, depth - 1);
    current += char;
  }
  if (current) rules.push(current);
  return rules;
}

/** Rules that give a user a password or enable it: left out of the (disabled, passwordless) probe user. */
const PASSWORD_OR_STATE = (rule: string) => /^[><#!]/.test(rule) || ["nopass", "resetpass", "on", "off"].includes(rule);

/** The ACL SETUSER arguments of a disabled probe user with the same permissions as `permissions`. */
export function probeRules(permissions: string): string[] {
  return ["reset", ...aclRules(permissions).filter((rule) => !PASSWORD_OR_STATE(rule)), "off"];
}

/** An ACL GETUSER reply (RESP2 flat list or RESP3 map; selectors nested alike) as field -> value. */
export function aclDescription(reply: unknown): Record<string, unknown> | undefined {
  if (reply === null || reply === undefined) return undefined;
  const fields = (value: unknown): Record<string, unknown> => {
    if (value instanceof Map) return Object.fromEntries(value);
    if (Array.isArray(value)) {
      const result: Record<string, unknown> = {};
      for (let i = 0; i + 1 < value.length; i += 2) result[String(value[i])] = value[i + 1];
      return result;
    }
    return { ...(value as Record<string, unknown>) };
  };
  const description = fields(reply);
  if (Array.isArray(description.selectors)) description.selectors = description.selectors.map(fields);
  return description;
}

/** A field of two ACL GETUSER descriptions that differs. */
export interface AclDifference {
  field: string;
  found: unknown;
  declared: unknown;
}

/**
 * How a user's ACL GETUSER description differs from that of a probe user made from the
 * declared rules, both as the server normalised them: every field but the passwords; the
 * flags but on/off (the probe is disabled); key and channel patterns as sets (a union, so
 * their order means nothing); selectors alike. Commands are compared as the server wrote
 * them: rules in another order may still allow the same commands (see `commandsDiffer`).
 */
export function aclDifferences(user: Record<string, unknown>, declared: Record<string, unknown>): AclDifference[] {
  const patterns = (value: unknown) =>
    typeof value === "string"
      ? value.split(" ").filter(Boolean).sort()
      : Array.isArray(value)
        ? value.map(String).sort()
        : value;
  const comparable = (description: Record<string, unknown>): Record<string, unknown> => {
    const { passwords: _, ...rest } = description;
    if (Array.isArray(rest.flags)) rest.flags = rest.flags.filter((f) => f !== "on" && f !== "off").sort();
    for (const field of ["keys", "channels"]) if (field in rest) rest[field] = patterns(rest[field]);
    if (Array.isArray(rest.selectors))
      rest.selectors = rest.selectors.map((selector) => comparable(selector as Record<string, unknown>));
    return rest;
  };
  const found = comparable(user);
  const want = comparable(declared);
  return (
    [...new Set([...Object.keys(found), ...Object.keys(want)])]
      .filter((field) => !isDeepStrictEqual(found[field], want[field]))
      // Flags as compared (the probe's off left out); patterns and selectors as the server wrote them.
      .map((field) =>
        field === "flags"
          ? { field, found: found[field] ?? null, declared: want[field] ?? null }
          : { field, found: user[field] ?? null, declared: declared[field] ?? null },
      )
  );
}

/**
 * Every command and subcommand COMMAND INFO lists, as the arguments of a call of it
 * (`config|get`, arity -3: config get x), for ACL DRYRUN. Containers of subcommands are
 * left out: their subcommands stand for them.
 */
export function commandCalls(info: unknown): { command: string; args: string[] }[] {
  const calls: { command: string; args: string[] }[] = [];
  const walk = (entries: unknown) => {
    if (!Array.isArray(entries)) return;
    for (const entry of entries) {
      if (!Array.isArray(entry)) continue;
      const [name, arity] = entry as [string, number];
      const subcommands = entry[9];
      if (Array.isArray(subcommands) && subcommands.length > 0) {
        walk(subcommands);
        continue;
      }
      const command = String(name).toLowerCase();
      const args = command.split("|");
      while (args.length < Math.abs(Number(arity))) args.push("x");
      calls.push({ command, args });
    }
  };
  walk(info);
  return calls;
}

/** Whether an ACL DRYRUN answer refuses the command itself (not a key or channel of the call). */
export const refusesCommand = (answer: string) => /has no permissions to run/i.test(answer);

/**
 * Commands one user may run and the other not, asked of the server (ACL DRYRUN of every
 * command COMMAND INFO lists): `user` is the installed user, `probe` the declared rules.
 */
async function commandsDiffer(client: Redis, user: string, probe: string) {
  const calls = commandCalls(await client.call("COMMAND", "INFO"));
  const pipeline = client.pipeline();
  for (const { args } of calls) {
    pipeline.call("ACL", "DRYRUN", user, ...args);
    pipeline.call("ACL", "DRYRUN", probe, ...args);
  }
  const answers = ((await pipeline.exec()) ?? []).map(([error, reply]) => (error ? error.message : String(reply)));
  const extra: string[] = [];
  const missing: string[] = [];
  calls.forEach(({ command }, i) => {
    const userMay = !refusesCommand(answers[2 * i] ?? "");
    const declaredMay = !refusesCommand(answers[2 * i + 1] ?? "");
    if (userMay && !declaredMay) extra.push(command);
    if (!userMay && declaredMay) missing.push(command);
  });
  return { extra: extra.sort(), missing: missing.sort() };
}

/** `n commands` and a few of them. */
const someOf = (commands: string[]) =>
  `${commands.length} (${commands.slice(0, 8).join(", ")}${commands.length > 8 ? ", ..." : ""})`;

/** The name redis_exporter gives its connections (CLIENT SETNAME, its --set-client-name default). */
export const EXPORTER_CLIENT_NAME = "redis_exporter";

/** Names the harness gives its own connections (src/valkey): never counted as someone else's. */
const HARNESS_CLIENT_NAMES = new Set(["valkey-harness", "acknowledged-writer"]);

/**
 * Connections in CLIENT LIST replies opened after the connection `self` (client ids only
 * grow): the exporter's (named redis_exporter, which it sets after logging in) and the
 * others the harness did not open, one entry per connection, its last state.
 */
export function newConnections(entries: ClientEntry[], self: number) {
  const last = new Map<string, ClientEntry>();
  for (const entry of entries) {
    if (Number(entry.id) <= self || HARNESS_CLIENT_NAMES.has(entry.name ?? "")) continue;
    // A connection first seen before it logged in (name unset, user default) is judged by its named state.
    const known = last.get(entry.id as string);
    if (!known || entry.name === EXPORTER_CLIENT_NAME || known.name !== EXPORTER_CLIENT_NAME)
      last.set(entry.id as string, entry);
  }
  const all = [...last.values()];
  return {
    exporter: all.filter((e) => e.name === EXPORTER_CLIENT_NAME),
    others: all.filter((e) => e.name !== EXPORTER_CLIENT_NAME),
  };
}

/** "metrics (3 connections), default (1 connection)": the users of some connections, counted. */
export function usersOf(entries: ClientEntry[]): string {
  const counts = new Map<string, number>();
  for (const entry of entries) counts.set(entry.user ?? "?", (counts.get(entry.user ?? "?") ?? 0) + 1);
  return [...counts].map(([user, n]) => `${user} (${n} connection${n === 1 ? "" : "s"})`).join(", ") || "none";
}

/** How long the exporter may take to be seen logged in: it connects only while it is scraped, so the check scrapes it. */
const EXPORTER_OBSERVATION_MS = 30_000;

/** The default user's credentials: its rules (`+@all`) allow CLIENT LIST and ACL. */
function adminCredentials(context: CheckContext): Credentials {
  const password = context.release.credentials.default;
  return password
    ? { ...context.release.clientCredentials, username: "default", password }
    : context.release.clientCredentials;
}

/** Failed logins in the server's ACL LOG since `sinceMs` (server time), e.g. `metrics (12 times)`, for messages. */
async function failedLogins(client: Redis, sinceMs: number): Promise<string> {
  const log = ((await client.call("ACL", "LOG", "10")) as unknown[]).map(aclDescription);
  const auth = log.filter((entry) => entry?.reason === "auth" && Number(entry["timestamp-last-updated"]) >= sinceMs);
  return auth.map((entry) => `${entry?.username} (${entry?.count} times)`).join(", ") || "none";
}

/** The server's clock in milliseconds (TIME). */
async function serverMillis(client: Redis): Promise<number> {
  const [seconds, micros] = (await client.call("TIME")) as [string, string];
  return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
}

/**
 * Scrapes an exporter at `url` (it reaches Valkey only while it is scraped) and lists the
 * connections of its Valkey through `client` every millisecond meanwhile, until a
 * connection of the exporter shows up or `timeoutMs` passed.
 */
export async function watchExporter(client: Redis, url: string, timeoutMs = EXPORTER_OBSERVATION_MS) {
  const started = performance.now();
  const since = await serverMillis(client);
  const self = Number(await client.call("CLIENT", "ID"));
  const seen: ClientEntry[] = [];
  let connections = newConnections(seen, self);
  let scrapes = 0;
  let redisUp: string | undefined;
  while (performance.now() - started < timeoutMs) {
    let done = false;
    const scrape = fetch(url, { signal: AbortSignal.timeout(10_000) })
      .then(async (response) => {
        const up = metricValue(parseMetrics(await response.text()), "redis_up");
        redisUp = up === undefined ? `no redis_up sample (HTTP ${response.status})` : String(up);
      })
      .catch((error: Error) => {
        redisUp = `the scrape failed: ${error.message}`;
      })
      .finally(() => {
        done = true;
      });
    const replies: Promise<unknown>[] = [];
    while (!done) {
      replies.push(client.call("CLIENT", "LIST", "TYPE", "normal"));
      await sleep(1);
    }
    await scrape;
    // Replies come in order: the last one was answered after the exporter had closed its connection.
    for (const reply of await Promise.all(replies)) {
      const entries = parseClientList(String(reply));
      seen.push(...entries.filter((e) => Number(e.id) > self && !HARNESS_CLIENT_NAMES.has(e.name ?? "")));
    }
    scrapes++;
    connections = newConnections(seen, self);
    if (connections.exporter.length > 0) break;
    // Spares the exporter and the API server: a scrape every 100 ms at most (500 ms after a failed one).
    await sleep(redisUp?.startsWith("the scrape failed") ? 500 : 100);
  }
  return {
    ...connections,
    scrapes,
    seconds: (performance.now() - started) / 1000,
    redisUp,
    failedLogins: await failedLogins(client, since),
  };
}

/** Watches pod `pod`'s exporter log in (watchExporter), scraping it through a port-forward to its metrics port. */
async function observeExporter(context: CheckContext, pod: number) {
  const { release, cluster, expected } = context;
  const endpoint = await release.endpoint(pod);
  const forward = await PortForwardServer.start(
    () => cluster.kube,
    release.namespace,
    async () => release.podName(pod),
    expected.metrics.port,
  );
  try {
    return await withClient(endpoint, adminCredentials(context), (client) =>
      watchExporter(client, `http://${forward.host}:${forward.port}${expected.metrics.path}`),
    );
  } finally {
    await forward.close();
  }
}

export const authentication: Check = {
  id: "access.auth",
  promise:
    "on every pod refuses a client without credentials (NOAUTH) and a wrong password (WRONGPASS) and serves the configured user; the replicas log in to the primary as the declared replication user with their links up, the exporter logs in to every pod as its declared user, and every ACL user has exactly its declared permissions on every pod",
  notApplicable: (features) => (features.auth ? undefined : "the environment does not turn authentication on"),
  async run(context) {
    const verdict: Verdict = new Verdict(this.id);
    const { release, expected } = context;
    const admin = adminCredentials(context);

    // Every pod refuses strangers and serves the configured user.
    for (let i = 0; i < expected.pods; i++) {
      const endpoint = await release.endpoint(i);
      const anonymous = await rawPing(endpoint, 3_000, release.clientTls);
      verdict.that(
        /^-NOAUTH/.test(anonymous),
        `pod ${i}: a client without credentials got ${JSON.stringify(anonymous)} instead of -NOAUTH`,
      );
      const wrong = await rawCommand(endpoint, ["AUTH", "default", "wrong-password"], 3_000, release.clientTls);
      verdict.that(
        /^-WRONGPASS/.test(wrong),
        `pod ${i}: a wrong password got ${JSON.stringify(wrong)} instead of -WRONGPASS`,
      );
      const right = await rawCommand(
        endpoint,
        ["AUTH", "default", release.credentials.default ?? ""],
        3_000,
        release.clientTls,
      );
      verdict.equal(right, "+OK", `pod ${i}: AUTH of the configured user`);
      verdict.equal(
        await withClient(endpoint, release.clientCredentials, (c) => c.ping()),
        "PONG",
        `pod ${i}: PING as the configured user`,
      );
    }

    // The replicas log in to the primary as the declared replication user, and their links are up.
    const replicationUser = expected.auth.replicationUser;
    const replicas = await withClient(await release.endpoint(0), admin, async (c) =>
      parseClientList(String(await c.call("CLIENT", "LIST", "TYPE", "replica"))),
    );
    verdict.equal(replicas.length, expected.replicas, "replica connections on pod 0 (CLIENT LIST TYPE replica)");
    verdict.that(
      replicas.every((r) => r.user === replicationUser),
      `the replicas log in to pod 0 as ${usersOf(replicas)}, where the declared replicationUser is ${replicationUser} (CLIENT LIST TYPE replica)`,
    );
    for (let i = 1; i < expected.pods; i++) {
      const info = await withClient(await release.endpoint(i), admin, async (c) =>
        parseInfo(await c.info("replication")),
      );
      verdict.equal(info.master_link_status, "up", `pod ${i}'s link to the primary (as ${replicationUser})`);
    }

    // Every ACL user has exactly its declared permissions, as the server itself reads them.
    const probe = `harness-acl-probe-${randomBytes(4).toString("hex")}`;
    const problems: string[] = [];
    for (let i = 0; i < expected.pods; i++) {
      await withClient(await release.endpoint(i), admin, async (c) => {
        const users = ((await c.call("ACL", "USERS")) as string[])
          .filter((user) => !user.startsWith("harness-acl-probe-"))
          .sort();
        const declared = Object.keys(expected.auth.permissions).sort();
        if (!isDeepStrictEqual(users, declared))
          problems.push(
            `pod ${i} has the ACL users [${users.join(", ")}] where the environment declares [${declared.join(", ")}]`,
          );
        try {
          for (const [user, permissions] of Object.entries(expected.auth.permissions)) {
            if (!users.includes(user)) continue;
            const refused = await c.call("ACL", "SETUSER", probe, ...probeRules(permissions)).then(
              () => undefined,
              (error: Error) => error.message,
            );
            if (refused) {
              problems.push(
                `pod ${i}: the declared permissions of ACL user ${user} are refused by the server: ${refused}`,
              );
              continue;
            }
            const found = aclDescription(await c.call("ACL", "GETUSER", user)) ?? {};
            const want = aclDescription(await c.call("ACL", "GETUSER", probe)) ?? {};
            const described: string[] = [];
            for (const { field, found: is, declared: should } of aclDifferences(found, want)) {
              const text = `${field} ${JSON.stringify(is)} where the declared rules give ${JSON.stringify(should)}`;
              if (field !== "commands") {
                described.push(text);
                continue;
              }
              // The same rules in another order read differently: ask the server what each allows.
              const { extra, missing } = await commandsDiffer(c, user, probe);
              if (extra.length === 0 && missing.length === 0) continue;
              described.push(
                `${text} (ACL DRYRUN: ${extra.length > 0 ? `may run ${someOf(extra)} that the declared rules refuse` : ""}${extra.length > 0 && missing.length > 0 ? "; " : ""}${missing.length > 0 ? `may not run ${someOf(missing)} that they allow` : ""})`,
              );
            }
            if (described.length > 0)
              problems.push(
                `pod ${i}: ACL user ${user} differs from its declared permissions: ${described.join("; ")}`,
              );
          }
        } finally {
          await c.call("ACL", "DELUSER", probe).catch(() => undefined);
        }
      });
    }
    verdict.that(problems.length === 0, problems.join("\n"));

    // The exporter logs in to every pod as its declared user.
    const exporterUser = expected.auth.exporterUser;
    if (exporterUser === undefined) return;
    for (let i = 0; i < expected.pods; i++) {
      const seen = await observeExporter(context, i);
      const what = `pod ${i}: the exporter does not log in as ${exporterUser}`;
      verdict.that(
        seen.exporter.length > 0,
        `${what}: no connection named ${EXPORTER_CLIENT_NAME} appeared in CLIENT LIST during ${seen.scrapes} scrapes of it in ${seen.seconds.toFixed(0)} s (its redis_up: ${seen.redisUp}; other new connections: ${usersOf(seen.others)}; failed logins in ACL LOG: ${seen.failedLogins})`,
      );
      verdict.that(
        seen.exporter.every((e) => e.user === exporterUser),
        `${what}: its connections (named ${EXPORTER_CLIENT_NAME}) log in as ${usersOf(seen.exporter)}`,
      );
      context.log(
        `[access ${release.env}] pod ${i}: the exporter logged in as ${exporterUser} (seen after ${seen.scrapes} scrape(s))`,
      );
    }
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

/** A pod name of at most 63 characters that keeps its suffix (the node's index). */
const podName = (base: string, suffix: string) => `${base.slice(0, 63 - suffix.length)}${suffix}`;

/**
 * The clients of the probes, on every node: one per namespace the policy lists and one per
 * label set it lists (each admitted), and two it must refuse: a pod of the release's
 * namespace without the listed labels, and a pod with every listed label in a namespace
 * the policy does not list.
 */
export function clientsOf(
  policy: { allowedNamespaces: string[]; allowedPodLabels: Record<string, string>[] },
  releaseNamespace: string,
  outsideNamespace: string,
  nodes: string[],
): Client[] {
  const stranger = { role: "stranger" };
  const everyLabel = Object.assign({}, ...policy.allowedPodLabels) as Record<string, string>;
  return nodes.flatMap((node, i) => {
    const here = (name: string, namespace: string, labels: Record<string, string>, allowed: boolean, why: string) => ({
      name: podName(name, `-${i}`),
      namespace,
      node,
      labels,
      allowed,
      why,
    });
    return [
      here(
        "np-stranger",
        releaseNamespace,
        stranger,
        false,
        "a pod of the release's namespace without the allowed labels",
      ),
      here(
        "np-elsewhere",
        outsideNamespace,
        Object.keys(everyLabel).length > 0 ? everyLabel : stranger,
        false,
        `a pod${Object.keys(everyLabel).length > 0 ? " with the allowed labels" : ""} in a namespace the policy does not list`,
      ),
      ...policy.allowedPodLabels.map((labels, k) =>
        here(`np-labelled-${k}`, releaseNamespace, labels, true, `a pod labelled ${JSON.stringify(labels)}`),
      ),
      ...policy.allowedNamespaces.map((namespace) =>
        here(`np-${releaseNamespace}`, namespace, stranger, true, `any pod of the allowed namespace ${namespace}`),
      ),
    ];
  });
}

/** How long a new policy may take to be enforced (measured here: about 1 s). */
const POLICY_IN_FORCE_BOUND_MS = 20_000;

/** Rounds probed at once (each is one exec per client of a node): bounds the load on the API server. */
const ROUNDS_AT_ONCE = 4;

export const networkPolicy: Check = {
  id: "access.network-policy",
  promise:
    "admits to Valkey's port every namespace and every pod label set the environment lists and refuses the release's other pods and namespaces it does not list: from every node, all clients probe the same pod at the same moment, so each refusal is paired with admissions",
  notApplicable: (features) =>
    !features.networkPolicy
      ? "the environment has no NetworkPolicy"
      : features.tls
        ? "its probe speaks plaintext PING (nc), which a TLS-only server cannot answer: not built for TLS"
        : undefined,
  async run(context) {
    const verdict: Verdict = new Verdict(this.id);
    const { release, cluster, expected, namespaces } = context;
    const nodes = await cluster.nodeNames();
    const outsideNamespace = `np-outside-${release.namespace}`.slice(0, 63);
    await cluster.kube.createNamespace(outsideNamespace);
    await Promise.all(expected.networkPolicy.allowedNamespaces.map((namespace) => namespaces.ensure(namespace)));
    const clients = clientsOf(expected.networkPolicy, release.namespace, outsideNamespace, nodes);
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
      verdict.equal(targets.length, expected.pods, "Valkey pods to probe");
      // A round: every client of one node probes one pod at the same moment.
      const rounds = nodes.flatMap((node) =>
        targets.map((target) => ({ target, clients: clients.filter((c) => c.node === node) })),
      );
      const probeRound = async ({ target, clients: here }: (typeof rounds)[number]) =>
        Promise.all(
          here.map(async (client) => ({
            client,
            target,
            outcome: await probe(cluster, client.namespace, client.name, target.ip),
          })),
        );
      const wrongOf = (results: Awaited<ReturnType<typeof probeRound>>) =>
        results.flatMap(({ client, target, outcome }) => {
          const path = `${client.namespace}/${client.name} (${client.node}) -> ${target.name} (${target.node}), ${client.why}`;
          if (client.allowed && outcome.kind !== "answered")
            return [`${path}, was not admitted: ${outcome.kind} (${outcome.detail})`];
          if (!client.allowed && outcome.kind === "answered")
            return [`${path}, was admitted: Valkey answered ${outcome.detail}`];
          if (!client.allowed && !denied(outcome)) return [`${path}: the probe itself failed: ${outcome.detail}`];
          return [];
        });
      // The policy controller needs a moment to program a new policy (measured here: about 1 s):
      // wait until the first round shows it in force, then judge every round.
      const started = performance.now();
      const inForce = await waitFor(
        "the NetworkPolicy to be in force (the first round: every client as the policy says)",
        async () => wrongOf(await probeRound(rounds[0] as (typeof rounds)[number])).length === 0,
        { timeoutMs: POLICY_IN_FORCE_BOUND_MS, intervalMs: 500 },
      ).then(
        () => true,
        () => false,
      );
      context.log(
        inForce
          ? `[netpol ${release.env}] policy in force after ${((performance.now() - started) / 1000).toFixed(1)} s`
          : `[netpol ${release.env}] the first round still disagrees with the policy after ${POLICY_IN_FORCE_BOUND_MS / 1000} s`,
      );
      const results: Awaited<ReturnType<typeof probeRound>> = [];
      for (let start = 0; start < rounds.length; start += ROUNDS_AT_ONCE)
        results.push(...(await Promise.all(rounds.slice(start, start + ROUNDS_AT_ONCE).map(probeRound))).flat());
      const wrong = wrongOf(results);
      verdict.that(
        wrong.length === 0,
        `${wrong[0]}${inForce ? "" : ` (after ${POLICY_IN_FORCE_BOUND_MS / 1000} s for the policy to take effect)`}; ${wrong.length} of ${results.length} probes went wrong:\n  ${wrong.join("\n  ")}`,
      );
      const kinds = new Set(results.filter((x) => !x.client.allowed).map((x) => x.outcome.kind));
      context.log(
        `[netpol ${release.env}] ${results.length} probes in ${rounds.length} rounds from ${nodes.length} nodes (${clients.length} clients): refusals were ${[...kinds].join(" and ")}`,
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
