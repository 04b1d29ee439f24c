import { readFileSync } from "node:fs";
import { join } from "node:path";

/**
 * Go's build cache reuses a compiled package only when the package and everything it
 * imports are at the same versions (and -trimpath names the required version, so a
 * `replace` to an older one does not count). Each component is its own Go module, so a
 * cold build compiled client-go and the API types once per component until their go.mod
 * files named the default Kubernetes release's versions of them. This table is that
 * promise, checked by tests/unit/shared-builds.test.ts; docs/node-image.md, "Where a cold build goes".
 */

/** The modules k8s.io/api's packages import: what a component shares when its own dependencies need newer versions of some of client-go's. */
export const API_TYPES_LIBRARIES = [
  "github.com/fxamacker/cbor/v2",
  "github.com/go-logr/logr",
  "github.com/json-iterator/go",
  "github.com/modern-go/concurrent",
  "github.com/modern-go/reflect2",
  "github.com/x448/float16",
  "go.yaml.in/yaml/v2",
  "golang.org/x/net",
  "golang.org/x/text",
  "gopkg.in/inf.v0",
  "k8s.io/api",
  "k8s.io/apimachinery",
  "k8s.io/klog/v2",
  "k8s.io/kube-openapi",
  "k8s.io/utils",
  "sigs.k8s.io/json",
  "sigs.k8s.io/randfill",
  "sigs.k8s.io/structured-merge-diff/v6",
] as const;

/** The modules client-go's clientset, informers, leader election and clientcmd import (Kubernetes v1.35): the API types' and these. */
export const CLIENT_GO_LIBRARIES = [
  ...API_TYPES_LIBRARIES,
  "github.com/davecgh/go-spew",
  "github.com/emicklei/go-restful/v3",
  "github.com/go-openapi/jsonpointer",
  "github.com/go-openapi/jsonreference",
  "github.com/go-openapi/swag",
  "github.com/google/gnostic-models",
  "github.com/google/uuid",
  "github.com/josharian/intern",
  "github.com/mailru/easyjson",
  "github.com/munnerz/goautoneg",
  "github.com/pmezard/go-difflib",
  "github.com/spf13/pflag",
  "go.yaml.in/yaml/v3",
  "golang.org/x/oauth2",
  "golang.org/x/sys",
  "golang.org/x/term",
  "golang.org/x/time",
  "google.golang.org/protobuf",
  "gopkg.in/evanphx/json-patch.v4",
  "gopkg.in/yaml.v3",
  "k8s.io/client-go",
  "sigs.k8s.io/yaml",
] as const;

/** A component module (a folder under fixtures/images/go) that compiles some libraries at the versions another module does. */
export interface SharedBuild {
  module: string;
  sharesWith: string;
  /** The library modules that must be at the same version; "common": every module both go.mod files require. */
  libraries: readonly string[] | "common";
}

/** The shared builds of a default Kubernetes release and the CoreDNS it pins. */
export function sharedBuilds(release: string, coredns: string): SharedBuild[] {
  const kubernetes = `kubernetes/${release}`;
  return [
    { module: "local-path", sharesWith: kubernetes, libraries: CLIENT_GO_LIBRARIES },
    // kube-router v2.1.0 itself requires newer go-spew and go-openapi, CoreDNS newer x/oauth2,
    // x/time and protobuf than Kubernetes v1.35: their client-go differs, the API types not.
    { module: "kube-router", sharesWith: kubernetes, libraries: API_TYPES_LIBRARIES },
    { module: `coredns/${coredns}`, sharesWith: kubernetes, libraries: API_TYPES_LIBRARIES },
    { module: "containerd", sharesWith: "prometheus", libraries: "common" },
  ];
}

/** The `require` lines of a go.mod file: module path -> version. */
export function goModRequirements(goMod: string): Map<string, string> {
  const required = new Map<string, string>();
  let inBlock = false;
  for (const raw of goMod.split("\n")) {
    const line = raw.replace(/\/\/.*$/, "").trim();
    if (line === "require (") inBlock = true;
    else if (inBlock && line === ")") inBlock = false;
    else {
      const fields = (inBlock ? line : line.startsWith("require ") ? line.slice(8).trim() : "").split(/\s+/);
      if (fields.length === 2 && fields[0] && fields[1]) required.set(fields[0], fields[1]);
    }
  }
  return required;
}

/**
 * What breaks a shared build, one line each with the fix; empty when it holds. A library
 * the other module requires and this one does not require at all is reported too.
 */
export function sharedBuildProblems(build: SharedBuild, readGoMod: (module: string) => string): string[] {
  const mine = goModRequirements(readGoMod(build.module));
  const theirs = goModRequirements(readGoMod(build.sharesWith));
  const libraries = build.libraries === "common" ? [...mine.keys()].filter((m) => theirs.has(m)) : build.libraries;
  const problems: string[] = [];
  for (const library of libraries) {
    const want = theirs.get(library);
    const have = mine.get(library);
    if (want === undefined || have === want) continue;
    problems.push(
      `fixtures/images/go/${build.module}/go.mod requires ${library} ${have ?? "(not at all)"}, ` +
        `${build.sharesWith} ${want}: run \`cd fixtures/images/go/${build.module} && go get ${library}@${want} && go mod tidy\`` +
        ` (or, where its own dependencies need newer, take ${library} off its list in src/images/shared-builds.ts)`,
    );
  }
  return problems;
}

/** Reads fixtures/images/go/<module>/go.mod. */
export function goModReader(goDir: string): (module: string) => string {
  return (module) => readFileSync(join(goDir, module, "go.mod"), "utf8");
}
