import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { envValue, IMAGE_INPUTS } from "../../src/images/index.ts";
import {
  CLIENT_GO_LIBRARIES,
  goModReader,
  goModRequirements,
  sharedBuildProblems,
  sharedBuilds,
} from "../../src/images/shared-builds.ts";

const goDir = join(IMAGE_INPUTS, "go");
const defaultRelease = envValue("components.env", "KUBERNETES_RELEASE");
const coredns = envValue(join("releases", `${defaultRelease}.env`), "COREDNS_VERSION");

describe("a cold image build compiles the shared libraries once", () => {
  test.each(sharedBuilds(defaultRelease, coredns))(
    "$module requires the versions $sharesWith requires of the libraries they share",
    (build) => {
      expect(sharedBuildProblems(build, goModReader(goDir))).toEqual([]);
    },
  );

  test("the check names the file, the library, both versions and the fix when one differs", () => {
    const files: Record<string, string> = {
      "kubernetes/v1.35":
        "module k\n\nrequire (\n\tk8s.io/client-go v0.35.4 // indirect\n\tgolang.org/x/net v0.47.0\n)\n",
      "local-path":
        "module l\n\nrequire golang.org/x/net v0.47.0\n\nrequire (\n\tk8s.io/client-go v0.30.0 // indirect\n)\n",
    };
    const problems = sharedBuildProblems(
      { module: "local-path", sharesWith: "kubernetes/v1.35", libraries: CLIENT_GO_LIBRARIES },
      (module) => files[module] as string,
    );
    expect(problems).toEqual([
      "fixtures/images/go/local-path/go.mod requires k8s.io/client-go v0.30.0, kubernetes/v1.35 v0.35.4: run " +
        "`cd fixtures/images/go/local-path && go get k8s.io/client-go@v0.35.4 && go mod tidy` " +
        "(or, where its own dependencies need newer, take k8s.io/client-go off its list in src/images/shared-builds.ts)",
    ]);
  });

  test("go.mod requirements are read from single lines and blocks, comments ignored", () => {
    const required = goModRequirements(
      "module m\n\ngo 1.26\n\nrequire a.io/x v1.0.0\n\nrequire (\n\tb.io/y v0.2.0 // indirect\n\t// c.io/z v1\n)\n\nreplace d.io/w => d.io/w v1\n",
    );
    expect([...required]).toEqual([
      ["a.io/x", "v1.0.0"],
      ["b.io/y", "v0.2.0"],
    ]);
  });
});
