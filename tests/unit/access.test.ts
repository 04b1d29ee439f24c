import { describe, expect, test } from "vitest";
import type { Release } from "../../src/chart/release.ts";
import { environmentValues } from "../../src/chart/values.ts";
import {
  aclDescription,
  aclDifferences,
  aclRules,
  clientsOf,
  commandCalls,
  newConnections,
  parseClientList,
  probeRules,
  refusesCommand,
  usersOf,
} from "../../src/checks/access.ts";
import { expectedOf } from "../../src/checks/expected.ts";
import { WRAPPER_CHART } from "../../src/environments.ts";

// Replies of a real valkey-server 9.1.2 (Debian sid), with prod-01's ACL users loaded from an
// ACL file as the upstream chart writes it, one replica logged in as replicator, and
// redis_exporter 1.86 logged in as metrics.

const METRICS_RULES =
  "-@all +@connection +info +config|get +client +latency +slowlog +memory +cluster|info +select +scan +type +strlen +llen +hlen +scard +zcard +xinfo +xlen +pfcount +get";

const CLIENT_LIST_REPLICA =
  "id=3 addr=127.0.0.1:57534 laddr=127.0.0.1:16390 fd=9 name= age=173 idle=1 flags=S capa= db=0 sub=0 psub=0 ssub=0 multi=-1 watch=0 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=1024 rbp=0 obl=0 oll=1 omem=20504 tot-mem=22168 events=r cmd=replconf user=replicator redir=-1 resp=2 lib-name= lib-ver= tot-net-in=6078 tot-net-out=292 tot-cmds=169\n";

const line = (id: number, name: string, user: string, cmd: string) =>
  `id=${id} addr=127.0.0.1:${41000 + id} laddr=127.0.0.1:16390 fd=12 name=${name} age=0 idle=0 flags=N capa= db=0 sub=0 psub=0 ssub=0 multi=-1 watch=0 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=1024 rbp=0 obl=0 oll=0 omem=0 tot-mem=1928 events=r cmd=${cmd} user=${user} redir=-1 resp=2 lib-name= lib-ver= tot-net-in=59 tot-net-out=0 tot-cmds=1`;

const GETUSER_METRICS = [
  "flags",
  ["on"],
  "passwords",
  ["72e71ef68d4abc73bb71d1854ceee3be80351495614bb8f1a9b0cae534003347"],
  "commands",
  METRICS_RULES,
  "keys",
  "",
  "channels",
  "",
  "databases",
  "alldbs",
  "selectors",
  [],
];
const GETUSER_PROBE_OF_METRICS = [
  "flags",
  ["off"],
  "passwords",
  [],
  "commands",
  METRICS_RULES,
  "keys",
  "",
  "channels",
  "",
  "databases",
  "alldbs",
  "selectors",
  [],
];
const GETUSER_WITH_SELECTORS = [
  "flags",
  ["off", "nopass"],
  "passwords",
  [],
  "commands",
  "-@all +get",
  "keys",
  "~*",
  "channels",
  "&*",
  "databases",
  "alldbs",
  "selectors",
  [
    ["commands", "-@all +set", "keys", "~key2", "channels", "", "databases", "alldbs"],
    ["commands", "-@all +del", "keys", "~k3 %R~r*", "channels", "", "databases", "alldbs"],
  ],
];

describe("CLIENT LIST", () => {
  test("reads every field of a connection, empty ones included", () => {
    const [replica] = parseClientList(CLIENT_LIST_REPLICA);
    expect(replica).toMatchObject({ id: "3", flags: "S", user: "replicator", name: "", cmd: "replconf" });
    expect(parseClientList(`${CLIENT_LIST_REPLICA}${CLIENT_LIST_REPLICA}`)).toHaveLength(2);
    expect(parseClientList("")).toEqual([]);
  });

  test("the exporter's connections are the new ones named redis_exporter, judged once logged in", () => {
    const entries = parseClientList(
      [
        line(10, "", "default", "ping"), // older than the watching connection
        line(15, "valkey-harness", "default", "client|list"), // the harness's own
        line(20, "", "default", "auth"), // the exporter before AUTH and SETNAME...
        line(20, "redis_exporter", "metrics", "info"), // ...and after
        line(20, "", "default", "auth"), // (a stale reply cannot undo that)
        line(21, "redis_exporter", "metrics", "config|get"),
        line(22, "", "default", "client|setname"), // someone that never logged in
      ].join("\n"),
    );
    const { exporter, others } = newConnections(entries, 15);
    expect(exporter.map((e) => [e.id, e.user])).toEqual([
      ["20", "metrics"],
      ["21", "metrics"],
    ]);
    expect(others.map((e) => [e.id, e.user])).toEqual([["22", "default"]]);
    expect(usersOf(exporter)).toBe("metrics (2 connections)");
    expect(usersOf(others)).toBe("default (1 connection)");
    expect(usersOf([])).toBe("none");
  });
});

describe("ACL rules", () => {
  test("split into SETUSER arguments, a selector being one", () => {
    expect(aclRules("~* &* +@all")).toEqual(["~*", "&*", "+@all"]);
    expect(aclRules("  +GET allkeys &*  (+SET ~key2) (+del ~k3 %R~r*) ")).toEqual([
      "+GET",
      "allkeys",
      "&*",
      "(+SET ~key2)",
      "(+del ~k3 %R~r*)",
    ]);
  });

  test("a probe user gets the permissions, never a password, and stays disabled", () => {
    expect(probeRules("on >secret #abc nopass +@all ~* off on")).toEqual(["reset", "+@all", "~*", "off"]);
    expect(probeRules(METRICS_RULES)).toEqual(["reset", ...METRICS_RULES.split(" "), "off"]);
  });

  test("reads GETUSER replies, flat (RESP2) or maps (RESP3), selectors included", () => {
    expect(aclDescription(null)).toBeUndefined();
    const description = aclDescription(GETUSER_WITH_SELECTORS);
    expect(description?.commands).toBe("-@all +get");
    expect(description?.selectors).toEqual([
      { commands: "-@all +set", keys: "~key2", channels: "", databases: "alldbs" },
      { commands: "-@all +del", keys: "~k3 %R~r*", channels: "", databases: "alldbs" },
    ]);
    expect(aclDescription(new Map<string, unknown>([["commands", "+@all"]]))).toEqual({ commands: "+@all" });
  });

  test("a user and the probe of its declared rules agree but for on/off and the passwords", () => {
    const user = aclDescription(GETUSER_METRICS) ?? {};
    const probe = aclDescription(GETUSER_PROBE_OF_METRICS) ?? {};
    expect(aclDifferences(user, probe)).toEqual([]);
  });

  test("report widened commands and keys, a passwordless user, changed selectors", () => {
    const probe = aclDescription(GETUSER_PROBE_OF_METRICS) ?? {};
    const widened = { ...(aclDescription(GETUSER_METRICS) ?? {}), commands: "+@all", keys: "~*" };
    expect(aclDifferences(widened, probe)).toEqual([
      { field: "commands", found: "+@all", declared: METRICS_RULES },
      { field: "keys", found: "~*", declared: "" },
    ]);
    const nopass = { ...(aclDescription(GETUSER_METRICS) ?? {}), flags: ["on", "nopass"] };
    expect(aclDifferences(nopass, probe)).toEqual([{ field: "flags", found: ["nopass"], declared: [] }]);
    const selectors = aclDescription(GETUSER_WITH_SELECTORS) ?? {};
    const fewer = { ...selectors, selectors: (selectors.selectors as unknown[]).slice(0, 1) };
    expect(aclDifferences(fewer, selectors).map((d) => d.field)).toEqual(["selectors"]);
  });

  test("key and channel patterns are sets: their order means nothing", () => {
    const a = { commands: "+get", keys: "~a ~b", channels: "&x &y" };
    const b = { commands: "+get", keys: "~b ~a", channels: "&y &x" };
    expect(aclDifferences(a, b)).toEqual([]);
    expect(aclDifferences({ ...a, keys: "~a" }, b).map((d) => d.field)).toEqual(["keys"]);
  });
});

describe("ACL DRYRUN of every command", () => {
  // COMMAND INFO get config (abridged: two of config's subcommands).
  const INFO = [
    [
      "get",
      2,
      ["readonly", "fast"],
      1,
      1,
      1,
      ["@read", "@string", "@fast"],
      [],
      [["flags", ["RO", "access"], "begin_search", ["type", "index", "spec", ["index", 1]]]],
      [],
    ],
    [
      "config",
      -2,
      [],
      0,
      0,
      0,
      ["@slow"],
      [],
      [],
      [
        [
          "config|get",
          -3,
          ["admin", "noscript", "loading", "stale"],
          0,
          0,
          0,
          ["@admin", "@slow", "@dangerous"],
          [],
          [],
          [],
        ],
        ["config|help", 2, ["loading", "stale"], 0, 0, 0, ["@slow"], [], [], []],
      ],
    ],
  ];

  test("calls each command and subcommand with as many arguments as its arity asks", () => {
    expect(commandCalls(INFO)).toEqual([
      { command: "get", args: ["get", "x"] },
      { command: "config|get", args: ["config", "get", "x"] },
      { command: "config|help", args: ["config", "help"] },
    ]);
  });

  test("tells a refused command from a refused key", () => {
    expect(refusesCommand("User p1 has no permissions to run the 'config|get' command")).toBe(true);
    expect(refusesCommand("User p1 has no permissions to access the 'x' key")).toBe(false);
    expect(refusesCommand("OK")).toBe(false);
  });
});

describe("the NetworkPolicy probes' clients", () => {
  const nodes = ["agent-0", "agent-1", "agent-2", "server"];
  const policy = { allowedNamespaces: ["checkout", "sessions"], allowedPodLabels: [{ "valkey-client": "true" }] };

  test("one client per listed namespace and label set, and two refused ones, on every node", () => {
    const clients = clientsOf(policy, "valkey-prod-01", "np-outside-valkey-prod-01", nodes);
    expect(clients).toHaveLength(5 * nodes.length);
    for (const node of nodes) {
      const here = clients.filter((c) => c.node === node);
      expect(here.filter((c) => c.allowed).map((c) => `${c.namespace} ${JSON.stringify(c.labels)}`)).toEqual([
        'valkey-prod-01 {"valkey-client":"true"}',
        'checkout {"role":"stranger"}',
        'sessions {"role":"stranger"}',
      ]);
      expect(here.filter((c) => !c.allowed).map((c) => `${c.namespace} ${JSON.stringify(c.labels)}`)).toEqual([
        'valkey-prod-01 {"role":"stranger"}',
        'np-outside-valkey-prod-01 {"valkey-client":"true"}',
      ]);
    }
    const names = clients.map((c) => `${c.namespace}/${c.name}`);
    expect(new Set(names).size).toBe(names.length);
  });

  test("pod names stay within 63 characters and keep the node's index", () => {
    const long = "n".repeat(63);
    const clients = clientsOf(policy, long, `np-outside-${long}`.slice(0, 63), nodes);
    for (const client of clients) expect(client.name.length).toBeLessThanOrEqual(63);
    expect(clients.filter((c) => c.namespace === "checkout").map((c) => c.name.slice(-2))).toEqual([
      "-0",
      "-1",
      "-2",
      "-3",
    ]);
  });

  test("without listed labels the refused client elsewhere is a plain stranger", () => {
    const clients = clientsOf({ allowedNamespaces: ["checkout"], allowedPodLabels: [] }, "ns", "outside", ["a"]);
    expect(clients.map((c) => [c.namespace, c.labels, c.allowed])).toEqual([
      ["ns", { role: "stranger" }, false],
      ["outside", { role: "stranger" }, false],
      ["checkout", { role: "stranger" }, true],
    ]);
  });
});

describe("what access.auth expects, from the declared values", () => {
  const expectedFor = (env: string) =>
    expectedOf({
      env,
      declared: environmentValues(env),
      fit: {},
      fullname: "valkey",
      declaredChartDir: WRAPPER_CHART,
    } as unknown as Release).auth;

  test("prod-01: replicas as replicator, the exporter as metrics, each user's rules", () => {
    const auth = expectedFor("prod-01");
    expect(auth.replicationUser).toBe("replicator");
    expect(auth.exporterUser).toBe("metrics");
    expect(auth.permissions).toEqual({
      default: "~* &* +@all",
      replicator: "+psync +replconf +ping",
      metrics: METRICS_RULES,
    });
  });

  test("dev-01 (no authentication): upstream's default replication user, no ACL users", () => {
    const auth = expectedFor("dev-01");
    expect(auth.replicationUser).toBe("default");
    expect(auth.exporterUser).toBe("default");
    expect(auth.permissions).toEqual({});
  });
});
